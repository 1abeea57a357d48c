//go:build linux

package bpf

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf"
)

// Filter is the loaded socket filter.
type Filter struct {
	objs filterObjects
}

// NewFilter loads the filter and sets its ports. A verifier rejection comes
// back as an error wrapping *ebpf.VerifierError, whose %+v prints the log.
func NewFilter(ports []uint16) (*Filter, error) {
	if len(ports) == 0 {
		return nil, errors.New("no port to filter on")
	}
	f := &Filter{}
	if err := loadFilterObjects(&f.objs, nil); err != nil {
		var ve *ebpf.VerifierError
		if errors.As(err, &ve) {
			return nil, fmt.Errorf("the kernel's verifier rejected the socket filter: %w", err)
		}
		return nil, fmt.Errorf("load socket filter: %w", err)
	}
	for _, p := range ports {
		if err := f.objs.Ports.Put(uint32(p), uint8(1)); err != nil {
			f.Close()
			return nil, fmt.Errorf("set port %d in the filter: %w", p, err)
		}
	}
	return f, nil
}

// FD is the program's file descriptor, for SO_ATTACH_BPF.
func (f *Filter) FD() int { return f.objs.XrayCaptureFilter.FD() }

// Program is the loaded program (tests run it with Program.Test).
func (f *Filter) Program() *ebpf.Program { return f.objs.XrayCaptureFilter }

// Close releases the program and its map.
func (f *Filter) Close() error { return f.objs.Close() }

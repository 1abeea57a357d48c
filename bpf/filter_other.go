//go:build !linux

package bpf

import "errors"

// ErrNotSupported: eBPF socket filters exist on Linux only.
var ErrNotSupported = errors.New("eBPF socket filters need Linux")

// Filter is unavailable on this system.
type Filter struct{}

// NewFilter always fails here.
func NewFilter([]uint16) (*Filter, error) { return nil, ErrNotSupported }

// FD is never valid here.
func (*Filter) FD() int { return -1 }

// Close does nothing.
func (*Filter) Close() error { return nil }

//go:build linux

package pipeline

import (
	"fmt"

	"github.com/xray-capture/xray-capture/capture"
)

// openWorkers opens a source per worker; more than one share a fanout
// group, so that the kernel hands each connection to one of them.
func openWorkers(o Options) ([]liveSource, string, error) {
	var srcs []liveSource
	var engine string
	var group uint16
	for i := range o.Workers {
		src, e, err := openLive(o)
		if err == nil {
			srcs, engine = append(srcs, src), e
			if o.Workers > 1 {
				group, err = joinGroup(src, e, i, group)
			}
		}
		if err != nil {
			for _, s := range srcs {
				s.Close()
			}
			return nil, "", err
		}
	}
	return srcs, engine, nil
}

// joinGroup puts worker i's ring in the fanout group: the first one makes
// it and returns its id.
func joinGroup(src liveSource, engine string, i int, group uint16) (uint16, error) {
	live, ok := src.(*capture.Live)
	if !ok {
		return 0, fmt.Errorf("--workers needs the ebpf or cbpf engine, not %s", engine)
	}
	var err error
	if i == 0 {
		group, err = live.StartFanout()
	} else {
		err = live.JoinFanout(group)
	}
	if err != nil {
		return 0, fmt.Errorf("--workers: %w", err)
	}
	return group, nil
}

// openLive opens a ring, or a libpcap handle, with the engine's filter.
func openLive(o Options) (liveSource, string, error) {
	if o.Engine == "pcap" {
		src, err := openPcap(o)
		return src, "pcap", err
	}
	return capture.OpenEngine(o.Engine, o.Interface, o.Ports, o.Ring, o.Log)
}

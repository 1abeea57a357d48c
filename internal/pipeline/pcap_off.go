//go:build !pcap && linux

package pipeline

import "errors"

func openPcap(Options) (liveSource, error) {
	return nil, errors.New("--engine pcap: this build has no libpcap; rebuild with -tags pcap (needs libpcap-dev and cgo)")
}

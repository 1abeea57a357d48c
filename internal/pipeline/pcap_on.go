//go:build pcap && linux

package pipeline

import "github.com/xray-capture/xray-capture/capture"

func openPcap(o Options) (liveSource, error) {
	return capture.OpenPcap(o.Interface, o.Ports, o.Ring)
}

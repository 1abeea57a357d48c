//go:build linux

package e2e

import (
	"fmt"
	"testing"

	"github.com/xray-capture/xray-capture/internal/testutil"
)

// TestLiveMirror: VPC Traffic Mirroring in namespaces. The app's interface
// is mirrored (tc mirred, both directions) into a vxlan device (VNI 42,
// UDP 4789) whose far end is a mirror target namespace with no vxlan
// device of its own, like an AWS mirror target: the agent there sees only
// the encapsulated copies, and traces every request exactly once, named by
// the inner server's network and with the inner client's address; the
// tunnel's addresses never stand for either.
func TestLiveMirror(t *testing.T) {
	for _, engine := range []string{"ebpf", "cbpf", "pcap"} {
		t.Run(engine, func(t *testing.T) {
			e := newEnv(t)
			target := testutil.NewNetNS(t)
			testutil.Link(t, e.srv, "xm0", []string{"198.51.100.1/24"}, target, "xt0", []string{"198.51.100.2/24"})
			e.srv.Run(t, "ip", "link", "add", "mir0", "type", "vxlan", "id", "42", "dstport", "4789",
				"local", "198.51.100.1", "remote", "198.51.100.2", "dev", "xm0")
			e.srv.Run(t, "ip", "link", "set", "mir0", "up")
			e.srv.Run(t, "tc", "qdisc", "add", "dev", "xs0", "clsact")
			for _, dir := range []string{"ingress", "egress"} {
				e.srv.Run(t, "tc", "filter", "add", "dev", "xs0", dir, "u32", "match", "u32", "0", "0", "action", "mirred", "egress", "mirror", "dev", "mir0")
			}
			e.startAgent(t, target, engine, "--service", "192.0.2.0/24=shop", "--service", "198.51.100.0/24=tunnel")

			const clients, perClient = 3, 40
			e.trafficMirror(t, clients, perClient)
			total := clients*perClient + 3 + 1
			m := e.byURL(t, total)
			for c := range clients {
				for i := range perClient {
					u := fmt.Sprintf("http://192.0.2.1:8080/m/%d/%d", c, i)
					d, ok := tracedOnce(t, m, u)
					if !ok {
						continue
					}
					if d.Name != "shop" || d.HTTP.Request.ClientIP != "192.0.2.2" || d.HTTP.Response == nil ||
						d.HTTP.Response.Status != 200 || d.HTTP.Response.ContentLength != 5 || d.End < d.Start {
						t.Errorf("%s: %+v", u, d)
					}
				}
			}
			for path, status := range map[string]int{"/status/201": 201, "/status/404": 404, "/status/503": 503} {
				if ds := m["http://pipe"+path]; len(ds) != 1 || ds[0].HTTP.Response == nil || ds[0].HTTP.Response.Status != status {
					t.Errorf("pipelined %s: %+v", path, ds)
				}
			}
			if ds := m["http://[2001:db8::1]:8080/v6"]; len(ds) != 1 || ds[0].HTTP.Request.ClientIP != "2001:db8::2" || ds[0].Name != "e2e" {
				t.Errorf("IPv6 inside IPv4 VXLAN: %+v", ds)
			}
			if n := len(e.daemon.Docs()); n != total {
				t.Errorf("%d segments for %d requests", n, total)
			}
			e.stop(t)
			// The summary counts no broken frame: every mirrored packet
			// decoded.
			if n := summaryCounters(t, e.stderr.String())["malformed_frames"]; n != 0 {
				t.Errorf("%d malformed frames:\n%s", n, e.stderr.String())
			}
		})
	}
}

// trafficMirror sends keep-alive requests, a pipelined batch and an IPv6
// request from the client to the app.
func (e *env) trafficMirror(t *testing.T, clients, perClient int) {
	keepAliveGets(t, e.cli, []string{"http://192.0.2.1:8080/m"}, clients, perClient)
	e.pipelinedThree(t)
	e.cli.Run(t, "curl", "-s", "-o", "/dev/null", "-g", "http://[2001:db8::1]:8080/v6")
}

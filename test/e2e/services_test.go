//go:build linux

package e2e

import (
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
)

// TestLiveServices: one agent, live, traces two servers on two ports and
// two addresses under their --service names, the default name for the
// rest; the port that only --service names is traced too, and --summary
// has a row per service.
func TestLiveServices(t *testing.T) {
	e := setup(t, "ebpf", "--service", "9090=cart", "--service", "[2001:db8::1]:8080=shop-v6", "--summary")
	var ln net.Listener
	if err := e.srv.Do(func() (err error) { ln, err = net.Listen("tcp", ":9090"); return }); err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: app()}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	want := map[string]string{
		"http://192.0.2.1:8080/a":     "e2e",
		"http://192.0.2.1:9090/b":     "cart",
		"http://[2001:db8::1]:8080/c": "shop-v6",
		"http://[2001:db8::1]:9090/d": "cart",
	}
	hc := e.client()
	for u := range want {
		resp, err := hc.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	got := e.byURL(t, len(want))
	for u, name := range want {
		if d := got[u]; len(d) != 1 || d[0].Name != name {
			t.Errorf("%s: segments %+v, want one named %s", u, d, name)
		}
	}
	e.stop(t)
	rows := map[string]bool{}
	for line := range strings.SplitSeq(e.stdout.String(), "\n") {
		if f := strings.Fields(line); len(f) >= 4 {
			rows[strings.Join(f[:4], " ")] = true
		}
	}
	for _, r := range []string{"e2e GET /a 1", "cart GET /b 1", "shop-v6 GET /c 1", "cart GET /d 1"} {
		if !rows[r] {
			t.Errorf("no summary row %q in:\n%s", r, e.stdout.String())
		}
	}
}

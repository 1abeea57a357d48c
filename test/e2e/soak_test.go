//go:build linux

package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestSoak runs mixed traffic (keep-alive, new connections, pipelining,
// errors) for XRAY_CAPTURE_SOAK (2 minutes by default; bench/soak.sh runs
// an hour) and checks that the agent's memory is flat: RSS grows from the
// middle of the run to its end by less than 5% or 4 MiB, whichever is
// more. The Go heap grows in steps (a megabyte or two once, on this
// machine, at any time in a 2-minute run); a leak of even a few bytes a
// request passes 4 MiB within an hour of bench/soak.sh.
func TestSoak(t *testing.T) {
	d := 2 * time.Minute
	if v := os.Getenv("XRAY_CAPTURE_SOAK"); v != "" {
		var err error
		if d, err = time.ParseDuration(v); err != nil {
			t.Fatalf("XRAY_CAPTURE_SOAK=%q: %v", v, err)
		}
	}
	// Segments go to the daemon only: an hour of them would fill a disk.
	e := setup(t, "ebpf", "--sampling=false", "--output", "/dev/null", "--idle-timeout", "10s", "--response-timeout", "5s")
	e.output = ""
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var served atomic.Int64
	dial := func(ctx context.Context, network, addr string) (c net.Conn, err error) {
		err = e.cli.Do(func() (err error) { c, err = (&net.Dialer{}).DialContext(ctx, network, addr); return })
		return
	}
	var wg sync.WaitGroup
	client := func(keepAlive bool, name string) {
		defer wg.Done()
		hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: !keepAlive, DialContext: dial}}
		for i := 0; ctx.Err() == nil; i++ {
			path := fmt.Sprintf("/%s/%d", name, i)
			if i%10 == 0 {
				path = fmt.Sprintf("/status/%d", []int{404, 429, 500, 503}[i/10%4])
			}
			resp, err := hc.Get("http://192.0.2.1:8080" + path)
			if err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				served.Add(1)
			}
			time.Sleep(2 * time.Millisecond)
		}
	}
	wg.Add(3)
	go client(true, "ka1")
	go client(true, "ka2")
	go client(false, "new")
	wg.Add(1)
	go func() { // pipelined bursts of three on short connections
		defer wg.Done()
		for ctx.Err() == nil {
			c, err := dial(ctx, "tcp", "192.0.2.1:8080")
			if err != nil {
				continue
			}
			io.WriteString(c, "GET /p/1 HTTP/1.1\r\nHost: p\r\n\r\nGET /p/2 HTTP/1.1\r\nHost: p\r\n\r\nGET /p/3 HTTP/1.1\r\nHost: p\r\nConnection: close\r\n\r\n")
			io.Copy(io.Discard, c)
			c.Close()
			served.Add(3)
			time.Sleep(20 * time.Millisecond)
		}
	}()
	pid := e.agent.Process.Pid
	var mid, end int64
	tick := time.NewTicker(d / 12)
	defer tick.Stop()
	for i := 1; ; i++ {
		select {
		case <-tick.C:
			rss := procStatus(t, pid, "VmRSS")
			t.Logf("%v: RSS %.1f MiB, %d requests served, %d segments", time.Duration(i)*d/12, float64(rss)/(1<<20), served.Load(), len(e.daemon.Docs()))
			if i == 6 {
				mid = rss
			}
			end = rss
			continue
		case <-ctx.Done():
		}
		break
	}
	wg.Wait()
	time.Sleep(500 * time.Millisecond)
	got := len(e.daemon.Docs())
	growth := float64(end-mid) / float64(mid)
	t.Logf("soak %v: %d requests served, %d segments (%.2f%%); RSS %.1f MiB at the middle, %.1f MiB at the end (%+.1f%%)",
		d, served.Load(), got, 100*float64(got)/float64(served.Load()), float64(mid)/(1<<20), float64(end)/(1<<20), 100*growth)
	if mid == 0 || growth >= 0.05 && end-mid >= 4<<20 {
		t.Errorf("RSS grew %.1f%% (%.1f MiB) in the second half (want under 5%% or 4 MiB)", 100*growth, float64(end-mid)/(1<<20))
	}
	if float64(got) < 0.99*float64(served.Load()) {
		t.Errorf("traced %d of %d requests", got, served.Load())
	}
	e.stop(t)
}

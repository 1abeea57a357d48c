// Command loadgen is the traffic of test/e2e's TestResumeAfterLoss, in
// processes of its own so that the test binary's race detector does not
// slow the load: a server that answers /r<N> with a status and a body
// length that name N, and a client that sends numbered requests on a few
// keep-alive connections, one at a time on each (no pipelining). It is a
// test tool, not shipped.
//
//	loadgen server -addr :8090
//
// prints "listening" once it listens, and "accepted N" each time it
// accepts a connection.
//
//	loadgen client -addr 192.0.2.1:8090 -conns 8 -pace 500us
//
// sends until SIGTERM; each SIGUSR1 starts the next phase (a request
// belongs to the phase it was sent in) and prints "phase P after N
// answered". After SIGTERM it prints a line "r N PHASE CONN STATUS LENGTH"
// for every request answered, "error ..." for every failure, then "end",
// and keeps its connections open until its stdin closes.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: loadgen server|client ...")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "server":
		err = server(os.Args[2:])
	case "client":
		err = client(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

// Period is how many consecutive request numbers answer tells apart; the
// client sends no more.
const Period = 98 * 2000

// answer is the answer to /r<n>: a 2xx status (not 204 or 205, which have
// no body) and a body of 1 to 2,000 bytes. Together they name n among
// Period consecutive numbers, so that a segment's status and
// content_length prove which request it answers.
func answer(n int) (status, length int) {
	k := n / 2000 % 98
	if k >= 4 {
		k += 2
	}
	return 200 + k, n%2000 + 1
}

func server(args []string) error {
	fs := flag.NewFlagSet("server", flag.ExitOnError)
	addr := fs.String("addr", ":8090", "listen address")
	fs.Parse(args)
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	fmt.Println("listening")
	body := strings.Repeat("x", 2000)
	var mu sync.Mutex
	accepted := 0
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			n, err := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/r"))
			if err != nil || n < 0 {
				http.NotFound(w, r)
				return
			}
			status, length := answer(n)
			w.Header().Set("Content-Length", strconv.Itoa(length))
			w.WriteHeader(status)
			io.WriteString(w, body[:length])
		}),
		ConnState: func(_ net.Conn, s http.ConnState) {
			if s == http.StateNew {
				mu.Lock()
				accepted++
				fmt.Printf("accepted %d\n", accepted)
				mu.Unlock()
			}
		},
	}
	return srv.Serve(ln)
}

// record is one request answered.
type record struct {
	n, phase, conn, status, length int
}

func client(args []string) error {
	fs := flag.NewFlagSet("client", flag.ExitOnError)
	addr := fs.String("addr", "", "the server's address")
	conns := fs.Int("conns", 8, "keep-alive connections, one request at a time on each")
	pace := fs.Duration("pace", 0, "pause between two requests of a connection (0: none)")
	fs.Parse(args)
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGUSR1, syscall.SIGTERM)

	var phase atomic.Int32
	var next, answered atomic.Int64
	stop := make(chan struct{})
	records := make([][]record, *conns)
	errs := make([]error, *conns)
	clients := make([]*http.Client, *conns)
	var wg sync.WaitGroup
	for c := range *conns {
		clients[c] = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
			MaxIdleConnsPerHost: 1,
			MaxConnsPerHost:     1,
			DisableCompression:  true,
		}}
		wg.Go(func() {
			var local string // the connection's own address: it must not change
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				n := int(next.Add(1))
				if n >= Period {
					return // answer would repeat itself
				}
				ph := int(phase.Load())
				var got string
				ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{
					GotConn: func(ci httptrace.GotConnInfo) { got = ci.Conn.LocalAddr().String() },
				})
				req, _ := http.NewRequestWithContext(ctx, "GET", fmt.Sprintf("http://%s/r%d", *addr, n), nil)
				resp, err := clients[c].Do(req)
				if err != nil {
					errs[c] = err
					return
				}
				body, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil {
					errs[c] = fmt.Errorf("/r%d: %w", n, err)
					return
				}
				if status, length := answer(n); resp.StatusCode != status || len(body) != length {
					errs[c] = fmt.Errorf("/r%d answered %d with %d bytes, want %d with %d", n, resp.StatusCode, len(body), status, length)
					return
				}
				if i == 0 {
					local = got
				} else if got != local {
					errs[c] = fmt.Errorf("request %d went on a new connection from %s (the first was %s)", i, got, local)
					return
				}
				answered.Add(1)
				records[c] = append(records[c], record{n, ph, c, resp.StatusCode, len(body)})
				if *pace > 0 {
					time.Sleep(*pace)
				}
			}
		})
	}

	out := bufio.NewWriter(os.Stdout)
	for sig := range sigs {
		if sig == syscall.SIGTERM {
			break
		}
		fmt.Fprintf(out, "phase %d after %d answered\n", phase.Add(1), answered.Load())
	}
	close(stop)
	wg.Wait()
	for c := range *conns {
		for _, r := range records[c] {
			fmt.Fprintf(out, "r %d %d %d %d %d\n", r.n, r.phase, r.conn, r.status, r.length)
		}
		if errs[c] != nil {
			fmt.Fprintf(out, "error connection %d: %v\n", c, errs[c])
		}
	}
	fmt.Fprintln(out, "end")
	if err := out.Flush(); err != nil {
		return err
	}
	// The connections stay open until stdin closes: the test closes them
	// once the agent has stopped.
	_, err := io.Copy(io.Discard, os.Stdin)
	for _, hc := range clients {
		hc.CloseIdleConnections()
	}
	if err != nil && !errors.Is(err, os.ErrClosed) {
		return err
	}
	return nil
}

// Command capturegen is the traffic side of test/make-captures.sh: a small
// HTTP server, a raw-socket client for what curl will not send (pipelining,
// forged Host headers, resets), a pcap editor that cuts a capture so that
// it starts in the middle of a connection, and one that wraps each frame of
// a capture in a tunnel (encap.go) for the tunnels this kernel lacks. It is a test tool, not shipped.
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/gopacket/gopacket/pcapgo"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: capturegen server|client|cut|abandon|encap ...")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "server":
		err = server(os.Args[2:])
	case "client":
		err = client(os.Args[2:])
	case "cut":
		err = cut(os.Args[2:])
	case "abandon":
		err = abandon(os.Args[2:])
	case "encap":
		err = encap(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "capturegen:", err)
		os.Exit(1)
	}
}

func server(args []string) error {
	fs := flag.NewFlagSet("server", flag.ExitOnError)
	addr := fs.String("addr", ":8080", "listen address")
	fs.Parse(args)
	mux := http.NewServeMux()
	mux.HandleFunc("/hello", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello\n")
	})
	mux.HandleFunc("/n/", func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("/status/{code}", func(w http.ResponseWriter, r *http.Request) {
		code, err := strconv.Atoi(r.PathValue("code"))
		if err != nil || code < 200 || code > 599 {
			code = 400
		}
		w.WriteHeader(code)
		fmt.Fprintf(w, "status %d\n", code)
	})
	mux.HandleFunc("/chunked", func(w http.ResponseWriter, r *http.Request) {
		f := w.(http.Flusher)
		for i := range 3 {
			fmt.Fprintf(w, "part %d of a chunked body\n", i)
			f.Flush()
		}
	})
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintf(w, "read %d bytes\n", n)
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(2 * time.Second)
		io.WriteString(w, "slow\n")
	})
	mux.HandleFunc("/stream", func(w http.ResponseWriter, r *http.Request) {
		// Flushing before the handler returns leaves Go without a length:
		// chunked for HTTP/1.1, a body ended by the close for HTTP/1.0.
		io.WriteString(w, "streamed body, ")
		w.(http.Flusher).Flush()
		io.WriteString(w, "ended by the close\n")
	})
	srv := &http.Server{Addr: *addr, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	return srv.ListenAndServe()
}

// client runs one scripted exchange over a raw TCP connection.
func client(args []string) error {
	fs := flag.NewFlagSet("client", flag.ExitOnError)
	addr := fs.String("addr", "", "server address")
	scenario := fs.String("scenario", "", "pipelined|xff|traceheader|dynamic|reset|close-delimited")
	fs.Parse(args)
	switch *scenario {
	case "pipelined":
		// Three requests in one write, a HEAD among them, then two more in
		// one write: a 204 and a 304, neither with a body.
		return exchange(*addr, []string{
			"GET /static.txt HTTP/1.1\r\nHost: pipe.test\r\nUser-Agent: pipeline/1\r\n\r\n" +
				"HEAD /static.txt HTTP/1.1\r\nHost: pipe.test\r\nUser-Agent: pipeline/1\r\n\r\n" +
				"GET /missing HTTP/1.1\r\nHost: pipe.test\r\nUser-Agent: pipeline/1\r\n\r\n",
			"GET /empty HTTP/1.1\r\nHost: pipe.test\r\n\r\n" +
				"GET /static.txt HTTP/1.1\r\nHost: pipe.test\r\nIf-Modified-Since: Sat, 01 Jan 2050 00:00:00 GMT\r\n\r\n",
		})
	case "xff":
		return exchange(*addr, []string{
			"GET /hello HTTP/1.1\r\nHost: xff.test:8080\r\nX-Forwarded-For: 203.0.113.7\r\n\r\n",
			"GET /hello HTTP/1.1\r\nHost: xff.test:8080\r\nX-Forwarded-For:  203.0.113.8 , 10.0.0.1, 10.0.0.2\r\n\r\n",
			"GET /hello HTTP/1.1\r\nHost: xff.test:8080\r\nX-Forwarded-For: 203.0.113.9\r\nX-Forwarded-For: 10.0.0.3\r\n\r\n",
			"GET /hello HTTP/1.1\r\nHost: xff.test:8080\r\nX-Forwarded-For: ,\r\n\r\n",
			"GET /hello HTTP/1.1\r\nHost: xff.test:8080\r\n\r\n",
		})
	case "traceheader":
		return exchange(*addr, []string{
			"GET /hello HTTP/1.1\r\nHost: trace.test\r\nX-Amzn-Trace-Id: Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1\r\n\r\n",
			"GET /hello HTTP/1.1\r\nHost: trace.test\r\nX-Amzn-Trace-Id: Root=1-5759e988-bd862e3fe1be46a994272794;Parent=53995c3f42cd8ad9;Sampled=0\r\n\r\n",
			"GET /hello HTTP/1.1\r\nHost: trace.test\r\nX-Amzn-Trace-Id: Root=1-5759e988-bd862e3fe1be46a994272795\r\n\r\n",
			"GET /hello HTTP/1.1\r\nHost: trace.test\r\nX-Amzn-Trace-Id: Root=1-5759e988-bd862e3fe1be46a994272796; Parent=53995c3f42cd8ada; Sampled=1;\r\n\r\n",
			"GET /hello HTTP/1.1\r\nHost: trace.test\r\nX-Amzn-Trace-Id: Root=not-a-trace-id;Parent=53995c3f42cd8adb\r\n\r\n",
			"GET /hello HTTP/1.1\r\nHost: trace.test\r\n\r\n",
		})
	case "dynamic":
		return exchange(*addr, []string{
			"GET /hello HTTP/1.1\r\nHost: api.example.com\r\n\r\n",
			"GET /hello HTTP/1.1\r\nHost: API.example.com:80\r\n\r\n",
			"GET /hello HTTP/1.1\r\nHost: www.example.com:8080\r\n\r\n",
			"GET /hello HTTP/1.1\r\nHost: evil.attacker.net\r\n\r\n",
			"GET /hello HTTP/1.1\r\nHost: api.example.com.attacker.net\r\n\r\n",
			"GET /hello HTTP/1.0\r\n\r\n",
		})
	case "close-delimited":
		return exchange(*addr, []string{"GET /stream HTTP/1.0\r\nHost: close.test\r\n\r\n"})
	case "reset":
		c, err := net.Dial("tcp", *addr)
		if err != nil {
			return err
		}
		if _, err := io.WriteString(c, "GET /slow HTTP/1.1\r\nHost: reset.test\r\n\r\n"); err != nil {
			return err
		}
		time.Sleep(300 * time.Millisecond)
		c.(*net.TCPConn).SetLinger(0) // close with RST, before the answer
		return c.Close()
	}
	return fmt.Errorf("unknown scenario %q", *scenario)
}

// exchange sends each write on one connection and reads until the server
// has been quiet for a moment, so that the next write follows the answers.
func exchange(addr string, writes []string) error {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	r := bufio.NewReader(c)
	buf := make([]byte, 64<<10)
	for _, w := range writes {
		if _, err := io.WriteString(c, w); err != nil {
			return err
		}
		for {
			c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
			if _, err := r.Read(buf); err != nil {
				if errors.Is(err, io.EOF) {
					return nil
				}
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					break
				}
				return err
			}
		}
	}
	return nil
}

// cut copies a pcap without its first packets, so that the capture starts
// in the middle of a connection.
func cut(args []string) error {
	fs := flag.NewFlagSet("cut", flag.ExitOnError)
	in := fs.String("in", "", "input pcap")
	out := fs.String("out", "", "output pcap")
	skip := fs.Int("skip", 0, "packets to drop from the start")
	fs.Parse(args)
	f, err := os.Open(*in)
	if err != nil {
		return err
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		return err
	}
	o, err := os.Create(*out)
	if err != nil {
		return err
	}
	defer o.Close()
	w := pcapgo.NewWriter(o)
	if err := w.WriteFileHeader(r.Snaplen(), r.LinkType()); err != nil {
		return err
	}
	for i := 0; ; i++ {
		data, ci, err := r.ReadPacketData()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if i < *skip {
			continue
		}
		if err := w.WritePacket(ci, data); err != nil {
			return err
		}
	}
}

// abandon opens n connections from src, sends each a partial request and
// then nothing, holding them open (no FIN, no RST) for hold. It prints how
// many it opened. One process holds at most its file limit: the hostile
// test runs several.
func abandon(args []string) error {
	fs := flag.NewFlagSet("abandon", flag.ExitOnError)
	addr := fs.String("addr", "", "server address")
	src := fs.String("src", "", "source address")
	n := fs.Int("n", 1000, "connections")
	hold := fs.Duration("hold", 30*time.Second, "how long to hold them")
	rate := fs.Int("rate", 0, "connections a second at most (0: as fast as possible)")
	fs.Parse(args)
	var pace *time.Ticker
	if *rate > 0 {
		pace = time.NewTicker(time.Second / time.Duration(*rate))
		defer pace.Stop()
	}
	d := net.Dialer{Timeout: time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(*src)}}
	var conns []net.Conn
	for range *n {
		if pace != nil {
			<-pace.C
		}
		c, err := d.Dial("tcp", *addr)
		if err != nil {
			continue
		}
		io.WriteString(c, "GET /abandoned HTTP/1.1\r\nHost: x\r\n")
		conns = append(conns, c)
	}
	fmt.Println(len(conns))
	time.Sleep(*hold)
	return nil
}

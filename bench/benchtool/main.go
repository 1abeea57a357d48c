//go:build linux

// Command benchtool is the benchmark scripts' helper (bench/*.sh):
//
//	benchtool listen -addr A -out F      count the datagrams a daemon would get, with latency
//	benchtool compare -log L [-xray J] [-tshark T]   check transactions against nginx's access log
//	benchtool idle -addr A -n N -hold D  open N keep-alive connections, one request each, and hold them
//	benchtool cpu -o F -- CMD ARGS...    run CMD, write its CPU seconds (user + system) and peak RSS (MiB) to F
//
// It is not part of the agent; it exists so that the scripts measure the
// same way on every machine.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: benchtool listen|compare|idle|cpu [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "listen":
		err = listen(os.Args[2:])
	case "compare":
		err = compare(os.Args[2:])
	case "idle":
		err = idle(os.Args[2:])
	case "cpu":
		err = cpu(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchtool:", err)
		os.Exit(1)
	}
}

// tx is what the access log, xray-capture and tshark can all say about one
// transaction. The URI is without its query: a segment's URL has none
// (docs/segments.md, URL).
type tx struct {
	method, uri, client string
	status              int
}

func (t tx) String() string {
	return fmt.Sprintf("%s %s %d from %s", t.method, t.uri, t.status, t.client)
}

// compare reads nginx's access log (the ground truth: see bench/nginx.conf
// for its format) and checks the transactions of xray-capture's JSON lines
// and of tshark's fields against it, as multisets.
func compare(args []string) error {
	fs := flag.NewFlagSet("compare", flag.ExitOnError)
	logPath := fs.String("log", "", "nginx access log")
	xrayPath := fs.String("xray", "", "xray-capture --output file")
	tsharkPath := fs.String("tshark", "", "tshark -T fields output (see bench/offline.sh)")
	fs.Parse(args)
	truth, unfinished, err := readAccessLog(*logPath)
	if err != nil {
		return err
	}
	fmt.Printf("access log: %d transactions, %d of them not finished by nginx (the client left: wrk stopping)\n",
		len(truth), len(unfinished))
	ok := true
	check := func(name string, got []tx) {
		missing, extra := diff(truth, got)
		// A response nginx did not finish sending may never have reached
		// the wire: its transaction can be missing from any capture.
		missing, excused := excuse(missing, unfinished)
		if excused > 0 {
			fmt.Printf("  excused: %d unfinished transactions not in the %s capture\n", excused, name)
		}
		fmt.Printf("%s: %d transactions, %d of the access log's missing, %d not in it\n", name, len(got), len(missing), len(extra))
		for i, t := range missing {
			if i == 5 {
				break
			}
			fmt.Printf("  missing: %v\n", t)
		}
		for i, t := range extra {
			if i == 5 {
				break
			}
			fmt.Printf("  extra: %v\n", t)
		}
		if name == "xray-capture" && (len(missing) > 0 || len(extra) > 0) {
			ok = false
		}
	}
	if *xrayPath != "" {
		got, err := readSegments(*xrayPath)
		if err != nil {
			return err
		}
		check("xray-capture", got)
	}
	if *tsharkPath != "" {
		got, err := readTshark(*tsharkPath)
		if err != nil {
			return err
		}
		check("tshark", got)
	}
	if !ok {
		return fmt.Errorf("xray-capture does not match the access log")
	}
	return nil
}

// excuse removes from missing the transactions of unfinished (a multiset)
// and says how many it removed.
func excuse(missing, unfinished []tx) ([]tx, int) {
	left := map[tx]int{}
	for _, t := range unfinished {
		left[t]++
	}
	var kept []tx
	for _, t := range missing {
		if left[t] > 0 {
			left[t]--
			continue
		}
		kept = append(kept, t)
	}
	return kept, len(missing) - len(kept)
}

func diff(want, got []tx) (missing, extra []tx) {
	count := map[tx]int{}
	for _, t := range want {
		count[t]++
	}
	for _, t := range got {
		if count[t] > 0 {
			count[t]--
		} else {
			extra = append(extra, t)
		}
	}
	for t, c := range count {
		for range c {
			missing = append(missing, t)
		}
	}
	return missing, extra
}

// readAccessLog reads lines of "method<TAB>uri<TAB>status<TAB>xff<TAB>addr"
// and, optionally, "<TAB>completion" (nginx's $request_completion: OK when
// the response was sent whole). The expected client is the first address
// of X-Forwarded-For when the request had one (docs/segments.md, Client
// IP), else the peer. unfinished lists the transactions not sent whole.
func readAccessLog(path string) (out, unfinished []tx, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Split(sc.Text(), "\t")
		if len(fields) != 5 && len(fields) != 6 {
			return nil, nil, fmt.Errorf("%s: bad line %q", path, sc.Text())
		}
		status, _ := strconv.Atoi(fields[2])
		client := fields[4]
		if xff := fields[3]; xff != "-" {
			client = strings.TrimSpace(strings.Split(xff, ",")[0])
		}
		t := tx{method: fields[0], uri: withoutQuery(fields[1]), status: status, client: client}
		out = append(out, t)
		if len(fields) == 6 && fields[5] != "OK" {
			unfinished = append(unfinished, t)
		}
	}
	return out, unfinished, sc.Err()
}

func readSegments(path string) ([]tx, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []tx
	dec := json.NewDecoder(bufio.NewReaderSize(f, 1<<20))
	for {
		var s struct {
			HTTP struct {
				Request struct {
					Method, URL string
					ClientIP    string `json:"client_ip"`
				}
				Response struct{ Status int }
			}
		}
		if err := dec.Decode(&s); err == io.EOF {
			return out, nil
		} else if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		out = append(out, tx{method: s.HTTP.Request.Method, uri: pathOf(s.HTTP.Request.URL),
			status: s.HTTP.Response.Status, client: s.HTTP.Request.ClientIP})
	}
}

func withoutQuery(uri string) string {
	path, _, _ := strings.Cut(uri, "?")
	return path
}

// pathOf strips scheme and host from an absolute URL.
func pathOf(u string) string {
	if i := strings.Index(u, "://"); i >= 0 {
		u = u[i+3:]
		if j := strings.IndexByte(u, '/'); j >= 0 {
			return u[j:]
		}
		return "/"
	}
	return u
}

// readTshark joins tshark's request and response rows: fields are
// frame.number, http.request.method, http.request.uri,
// http.x_forwarded_for, ip.src, http.response.code, http.request_in.
func readTshark(path string) ([]tx, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	reqs := map[string]tx{}
	type resp struct {
		in     string
		status int
	}
	var resps []resp
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		fl := strings.Split(sc.Text(), "\t")
		if len(fl) < 7 {
			continue
		}
		// A frame that carries several pipelined messages lists each
		// field comma-separated; the standard capture has none.
		if fl[1] != "" {
			client := fl[4]
			if fl[3] != "" {
				client = strings.TrimSpace(strings.Split(fl[3], ",")[0])
			}
			reqs[fl[0]] = tx{method: fl[1], uri: withoutQuery(fl[2]), client: client}
		}
		if fl[5] != "" {
			st, _ := strconv.Atoi(strings.Split(fl[5], ",")[0])
			resps = append(resps, resp{in: strings.Split(fl[6], ",")[0], status: st})
		}
	}
	var out []tx
	for _, r := range resps {
		if t, ok := reqs[r.in]; ok {
			t.status = r.status
			out = append(out, t)
		}
	}
	return out, sc.Err()
}

// idle opens n connections to addr, sends one keep-alive request on each,
// reads the response, and holds them all open for the hold time: the
// agent then tracks n idle connections.
func idle(args []string) error {
	fs := flag.NewFlagSet("idle", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:8080", "server")
	n := fs.Int("n", 10000, "connections")
	hold := fs.Duration("hold", 10*time.Second, "how long to hold them")
	fs.Parse(args)
	conns := make([]net.Conn, 0, *n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	buf := make([]byte, 4096)
	for i := range *n {
		c, err := net.Dial("tcp", *addr)
		if err != nil {
			return fmt.Errorf("connection %d: %w", i, err)
		}
		conns = append(conns, c)
		fmt.Fprintf(c, "GET /json?idle=%d HTTP/1.1\r\nHost: bench\r\n\r\n", i)
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		resp, err := readResponseHead(c, buf)
		if err != nil {
			return fmt.Errorf("connection %d: %w", i, err)
		}
		if !strings.HasPrefix(resp, "HTTP/1.1 200") {
			return fmt.Errorf("connection %d: %q", i, resp)
		}
	}
	fmt.Printf("holding %d idle keep-alive connections\n", len(conns))
	time.Sleep(*hold)
	return nil
}

// readResponseHead reads until the small response of /json is complete:
// its body ends with a newline after the header block.
func readResponseHead(c net.Conn, buf []byte) (string, error) {
	got := 0
	for {
		k, err := c.Read(buf[got:])
		got += k
		if err != nil {
			return string(buf[:got]), err
		}
		if i := bytes.Index(buf[:got], []byte("\r\n\r\n")); i >= 0 && bytes.HasSuffix(buf[:got], []byte("}\n")) {
			return string(buf[:got]), nil
		}
		if got == len(buf) {
			return string(buf[:got]), fmt.Errorf("response over %d bytes", len(buf))
		}
	}
}

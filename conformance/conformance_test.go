//go:build linux

package conformance

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"os/exec"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/xray-capture/xray-capture/internal/testutil"
)

var update = flag.Bool("update", false, "rewrite docs/conformance.md")

var binary string

func TestMain(m *testing.M) {
	code := func() int {
		if os.Getenv(testutil.PrivilegedEnv) != "" {
			dir, err := os.MkdirTemp("", "xray-capture-conformance")
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 1
			}
			defer os.RemoveAll(dir)
			if binary, err = testutil.BuildBinary(dir, "../cmd/xray-capture", "xray-capture"); err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 1
			}
		}
		return m.Run()
	}()
	os.Exit(code)
}

// request is one request of the mix. Requests with the same conn share a
// keep-alive connection; conn "" opens a new one.
type request struct {
	id      int
	conn    string
	method  string
	target  string // after /r/<id>
	host    string
	headers []string
	body    string
	traced  bool // whether any tracer should send a segment
}

const defaultHost = "conformance.test:8080"

func mix() []request {
	trace := "X-Amzn-Trace-Id: Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
	rs := []request{
		{conn: "a", method: "GET", target: "/plain", headers: []string{"User-Agent: ua-one/1.0"}},
		{conn: "a", method: "POST", target: "/status/201", body: "a=1&b=2", headers: []string{"User-Agent: curl/8.5.0", "Content-Type: application/x-www-form-urlencoded"}},
		{conn: "a", method: "PUT", target: "/put", body: "put body", headers: []string{"User-Agent: curl/8.5.0"}},
		{conn: "a", method: "DELETE", target: "/status/204"},
		{conn: "a", method: "GET", target: "/empty-user-agent", headers: []string{"User-Agent: "}},
		{conn: "a", method: "HEAD", target: "/head"},
		{method: "GET", target: "/a%20b/%E2%82%AC/c?q=1&secret=2"},
		{method: "GET", target: "/search?q=x%20y", headers: []string{"User-Agent: Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0"}},
		{conn: "b", method: "GET", target: "/status/301"},
		{conn: "b", method: "GET", target: "/status/304"},
		{conn: "b", method: "GET", target: "/status/400"},
		{conn: "b", method: "GET", target: "/status/404", headers: []string{"X-Forwarded-For: 203.0.113.7"}},
		{conn: "b", method: "GET", target: "/status/429", headers: []string{"X-Forwarded-For: 203.0.113.8, 10.0.0.1, 10.0.0.2"}},
		{conn: "c", method: "GET", target: "/status/500"},
		{conn: "c", method: "GET", target: "/status/503"},
		{conn: "c", method: "GET", target: "/boom"},
		{conn: "c", method: "GET", target: "/chunked"},
		{method: "GET", target: "/traced", headers: []string{trace}},
		{method: "GET", target: "/not-sampled", headers: []string{"X-Amzn-Trace-Id: Root=1-5759e988-bd862e3fe1be46a994272794;Parent=53995c3f42cd8ad9;Sampled=0"}},
		{method: "GET", target: "/root-only", headers: []string{"X-Amzn-Trace-Id: Root=1-5759e988-bd862e3fe1be46a994272795"}},
		{conn: "d", method: "GET", target: "/host", host: "api.example.com"},
		{conn: "d", method: "GET", target: "/host", host: "evil.attacker.net"},
		{conn: "d", method: "GET", target: "/host", host: "api.example.com:8080"},
		{conn: "d", method: "GET", target: "/host", host: "shop.example.com:80"},
	}
	for i := range rs {
		rs[i].id = i + 1
		if rs[i].host == "" {
			rs[i].host = defaultHost
		}
		rs[i].traced = !strings.Contains(rs[i].target, "not-sampled")
	}
	return rs
}

func (r request) wire() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s /r/%d%s HTTP/1.1\r\nHost: %s\r\n", r.method, r.id, r.target, r.host)
	for _, h := range r.headers {
		b.WriteString(h + "\r\n")
	}
	if r.body != "" {
		fmt.Fprintf(&b, "Content-Length: %d\r\n", len(r.body))
	}
	b.WriteString("\r\n" + r.body)
	return b.String()
}

// readResponse reads one response off r, for a request of method m, and
// says whether the server closes the connection after it.
func readResponse(br *bufio.Reader, m string) (closing bool, err error) {
	status, err := br.ReadString('\n')
	if err != nil {
		return false, err
	}
	cl, chunked := -1, false
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return false, err
		}
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			break
		}
		k, v, _ := strings.Cut(line, ":")
		switch strings.ToLower(strings.TrimSpace(k)) {
		case "content-length":
			fmt.Sscan(strings.TrimSpace(v), &cl)
		case "transfer-encoding":
			chunked = strings.Contains(strings.ToLower(v), "chunked")
		case "connection":
			closing = strings.EqualFold(strings.TrimSpace(v), "close")
		}
	}
	code := 0
	fmt.Sscanf(status, "HTTP/1.1 %d", &code)
	switch {
	case m == "HEAD" || code == 204 || code == 304:
	case chunked:
		for {
			var size int
			line, err := br.ReadString('\n')
			if err != nil {
				return false, err
			}
			fmt.Sscanf(line, "%x", &size)
			if size == 0 {
				_, err = br.ReadString('\n')
				return closing, err
			}
			if _, err := io.CopyN(io.Discard, br, int64(size)+2); err != nil {
				return false, err
			}
		}
	case cl >= 0:
		_, err = io.CopyN(io.Discard, br, int64(cl))
		return closing, err
	default:
		_, err = io.Copy(io.Discard, br)
		return true, err
	}
	return closing, nil
}

type oracle struct {
	name string
	cmd  []string
}

var oracles = []oracle{
	{"flask", []string{oraclePython(), "flask_app.py"}},
	{"express", []string{"node", "express_app.js"}},
}

const dynamicPattern = "*.example.com"

// run drives the mix through one oracle with xray-capture watching, and
// returns both sides' segments by request id.
func run(t *testing.T, o oracle, dynamic bool) (sdk, ours map[int]map[string]any) {
	ns := testutil.NewNetNS(t)
	listen := func() (c *net.UDPConn, err error) {
		err = ns.Do(func() (err error) {
			c, err = net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
			return
		})
		return
	}
	sdkDaemon := testutil.StartFakeDaemonWith(t, listen)
	ourDaemon := testutil.StartFakeDaemonWith(t, listen)

	pattern := ""
	if dynamic {
		pattern = dynamicPattern
	}
	// The app runs ahead of everything else on the machine: the SDK's clock
	// runs inside it, and on a loaded 2-core machine (CI with the race
	// detector) scheduling delays would otherwise count as time differences.
	app := ns.Command(append([]string{"nice", "-n", "-15"}, o.cmd...)...)
	app.Env = append(os.Environ(), "PORT=8080", "SERVICE=conformance", "DYNAMIC="+pattern,
		"AWS_XRAY_DAEMON_ADDRESS="+sdkDaemon.Addr)
	appOut, _ := app.StdoutPipe()
	app.Stderr = io.Discard
	if err := app.Start(); err != nil {
		t.Fatalf("%s: %v", o.name, err)
	}
	t.Cleanup(func() { app.Process.Kill(); app.Wait() })
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(appOut)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "ready") {
				ready <- true
			}
		}
		io.Copy(io.Discard, appOut)
	}()
	select {
	case <-ready:
	case <-time.After(20 * time.Second):
		t.Fatalf("%s did not start", o.name)
	}

	args := []string{binary, "--port", "8080", "--service-name", "conformance", "--interface", "lo",
		"--sampling=false", "--daemon-address", ourDaemon.Addr}
	if dynamic {
		args = append(args, "--dynamic-naming", pattern)
	}
	agent := ns.Command(args...)
	agentErr := &testutil.SyncBuffer{}
	agent.Stderr = agentErr
	if err := agent.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { agent.Process.Kill(); agent.Wait() })
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(agentErr.String(), "msg=capturing") && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}

	// Wait until the app's port answers.
	for i := 0; ; i++ {
		var c net.Conn
		err := ns.Do(func() (err error) { c, err = net.Dial("tcp", "127.0.0.1:8080"); return })
		if err == nil {
			c.Close()
			break
		}
		if i > 100 {
			t.Fatalf("%s: port 8080 never answered", o.name)
		}
		time.Sleep(50 * time.Millisecond)
	}

	conns := map[string]net.Conn{}
	readers := map[string]*bufio.Reader{}
	// One warm-up request, not compared: the first request of a fresh
	// process pays for lazy module loading inside the SDK's own window
	// (about 5 ms in Node), which says nothing about steady state.
	warm := request{id: 0, method: "GET", target: "/warm-up", host: defaultHost, traced: true}
	traced := 0
	for _, r := range append([]request{warm}, mix()...) {
		c, ok := conns[r.conn]
		if !ok || r.conn == "" {
			if err := ns.Do(func() (err error) { c, err = net.Dial("tcp", "127.0.0.1:8080"); return }); err != nil {
				t.Fatal(err)
			}
			if r.conn != "" {
				conns[r.conn] = c
				readers[r.conn] = bufio.NewReader(c)
			}
		}
		br := readers[r.conn]
		if r.conn == "" {
			br = bufio.NewReader(c)
		}
		c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.WriteString(c, r.wire()); err != nil {
			t.Fatal(err)
		}
		closing, err := readResponse(br, r.method)
		if err != nil {
			t.Fatalf("%s: request %d: %v", o.name, r.id, err)
		}
		if r.conn == "" || closing {
			// The server may end a keep-alive connection (waitress does
			// after a response without a length); the next request of the
			// group opens a new one.
			c.Close()
			delete(conns, r.conn)
		}
		if r.traced {
			traced++
		}
		time.Sleep(5 * time.Millisecond) // keep requests apart in time, as real traffic
	}
	for _, c := range conns {
		c.Close()
	}
	return index(t, sdkDaemon, traced), index(t, ourDaemon, traced)
}

var idPath = regexp.MustCompile(`/r/(\d+)(/|$)`)

func index(t *testing.T, d *testutil.FakeDaemon, n int) map[int]map[string]any {
	if _, bad := d.Wait(n, 10*time.Second); len(bad) > 0 {
		t.Fatalf("rejected datagrams: %v", bad)
	}
	time.Sleep(200 * time.Millisecond) // anything extra would arrive now
	docs := d.Docs()
	m := map[int]map[string]any{}
	for _, raw := range docs {
		var doc map[string]any
		if err := json.Unmarshal(raw, &doc); err != nil {
			t.Fatal(err)
		}
		u := get(doc, "http.request.url")
		match := idPath.FindStringSubmatch(fmt.Sprint(u))
		if match == nil {
			t.Fatalf("segment without a request id: %s", raw)
		}
		var id int
		fmt.Sscan(match[1], &id)
		if _, dup := m[id]; dup {
			t.Errorf("request %d traced twice", id)
		}
		m[id] = doc
	}
	return m
}

// get reads a dotted path of a segment document; nil when absent.
func get(doc map[string]any, path string) any {
	var cur any = doc
	for _, k := range strings.Split(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[k]
	}
	return cur
}

// fields are compared on every pair of segments.
var fields = []string{
	"name", "http.request.method", "http.request.url", "http.request.user_agent", "http.request.client_ip",
	"http.request.x_forwarded_for", "http.response.status", "http.response.content_length",
	"error", "throttle", "fault", "trace_id", "parent_id", "start_time", "end_time",
}

// fieldsNotCompared are keys an SDK sends that a passive tracer cannot or
// should not send (docs/segments.md, Fields sent); they are listed in the
// document, not compared.
var fieldsNotCompared = map[string]string{
	"id":          "random by design on both sides",
	"in_progress": "Python always sends in_progress:false; Go and xray-capture omit it",
	"service":     "the app's runtime cannot be known from packets",
	"cause":       "exceptions and stack traces live inside the app; the 500 and fault are compared",
	"aws":         "aws.xray names the SDK (X-Ray for Python / Node.js vs xray-capture)",
}

const maxTimeDelta = 5 * time.Millisecond

// documentedChoices says why a difference is one of docs/segments.md's
// choices; "" means it is not one (a bug).
func documentedChoices(oracle, field string, r request, sdk, ours any) string {
	switch field {
	case "http.request.url":
		switch {
		case oracle == "express" && strings.Contains(r.target, "?"):
			return "query string: Node keeps it, Part A drops it (it can hold secrets), as Go and Flask do"
		case oracle == "flask" && (strings.Contains(r.target, "%") || r.host != strings.ToLower(r.host) || strings.HasSuffix(r.host, ":80")):
			return "Flask normalises the URL (host lower-cased, :80 dropped, path partly decoded); Part A sends Host and path as on the wire"
		}
	case "http.request.client_ip":
		if oracle == "flask" && strings.Contains(strings.Join(r.headers, ""), "X-Forwarded-For: 203.0.113.8, ") {
			return "several X-Forwarded-For entries: Python sends the whole header, Part A the first entry (as Go and Node)"
		}
	case "http.response.content_length":
		if sdk == nil && ours != nil {
			if oracle == "express" {
				return "the Node middleware never records content_length; Part A sends the response's Content-Length"
			}
			if strings.HasPrefix(r.target, "/chunked") {
				return "chunked body: an SDK cannot know its length; Part A sends the body bytes seen"
			}
		}
	case "name":
		if strings.HasSuffix(r.host, ":80") && sdk == strings.ToLower(strings.TrimSuffix(r.host, ":80")) {
			return "Flask lower-cases the Host; Part A names the segment with the Host as sent (:80 removed)"
		}
		if oracle == "express" && strings.HasSuffix(r.host, ":80") {
			return "Host with :80: Node matches it port included (no match, default name); Part A removes :80 first, as Flask does"
		}
	case "http.request.user_agent":
		if oracle == "express" && sdk == "" && ours == nil {
			return "no User-Agent header: Node sends an empty user_agent; Part A omits it, as Go and Python do"
		}
	}
	return ""
}

type tally struct {
	compared, equal int
	documented      map[string]int
	bugs            []string
}

func compare(t *testing.T, oracle string, dynamic bool, sdk, ours map[int]map[string]any, tallies map[string]*tally) (maxStart, maxEnd time.Duration) {
	for _, r := range mix() {
		s, o := sdk[r.id], ours[r.id]
		if !r.traced {
			if s != nil || o != nil {
				t.Errorf("%s request %d (Sampled=0): sdk sent %v, xray-capture sent %v", oracle, r.id, s != nil, o != nil)
			}
			continue
		}
		if s == nil || o == nil {
			t.Errorf("%s request %d %s: sdk segment %v, xray-capture segment %v", oracle, r.id, r.target, s != nil, o != nil)
			continue
		}
		for _, f := range fields {
			tl := tallies[f]
			sv, ov := get(s, f), get(o, f)
			if (f == "trace_id" || f == "parent_id") && !strings.Contains(strings.Join(r.headers, ""), "X-Amzn-Trace-Id") {
				if f == "trace_id" {
					continue // random on both sides without an incoming header
				}
			}
			tl.compared++
			if f == "start_time" || f == "end_time" {
				d := time.Duration(math.Abs(toFloat(sv)-toFloat(ov)) * float64(time.Second))
				if f == "start_time" && d > maxStart {
					maxStart = d
				}
				if f == "end_time" && d > maxEnd {
					maxEnd = d
				}
				if d > 2*time.Millisecond {
					t.Logf("%s #%d %s: %s differs by %v", oracle, r.id, r.target, f, d)
				}
				if d <= maxTimeDelta {
					tl.equal++
				} else {
					tl.bugs = append(tl.bugs, fmt.Sprintf("%s #%d %s: %s differs by %v", oracle, r.id, r.target, f, d))
				}
				continue
			}
			if fmt.Sprint(sv) == fmt.Sprint(ov) {
				tl.equal++
				continue
			}
			if why := documentedChoices(oracle, f, r, sv, ov); why != "" {
				tl.documented[oracle+": "+why]++
				continue
			}
			tl.bugs = append(tl.bugs, fmt.Sprintf("%s dynamic=%v #%d %s %s: sdk %v, xray-capture %v", oracle, dynamic, r.id, r.host, r.target, sv, ov))
		}
		for k := range s {
			if _, ok := fieldsNotCompared[k]; !ok && !knownTop[k] {
				t.Errorf("%s sent a key the harness does not compare: %q", oracle, k)
			}
		}
	}
	return
}

var knownTop = map[string]bool{"name": true, "trace_id": true, "parent_id": true, "start_time": true, "end_time": true,
	"http": true, "error": true, "throttle": true, "fault": true}

func toFloat(v any) float64 {
	f, _ := v.(float64)
	return f
}

func TestConformance(t *testing.T) {
	testutil.Privileged(t)
	for _, tool := range []string{oraclePython(), "node"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is required", tool)
		}
	}
	if out, err := exec.Command(oraclePython(), "-c", "import flask, aws_xray_sdk").CombinedOutput(); err != nil {
		t.Fatalf("%s cannot import flask and aws_xray_sdk (run test/setup.sh): %s", oraclePython(), out)
	}
	if _, err := os.Stat("node_modules/aws-xray-sdk-express"); err != nil {
		t.Fatal("node_modules is missing: run npm ci in conformance/")
	}
	var doc strings.Builder
	for _, o := range oracles {
		var tallies map[string]*tally
		var maxStart, maxEnd time.Duration
		// The two clocks are read by different processes: a time difference
		// over the limit is measured again once, on a new run of the whole
		// mix; one that stays is a failure like any other difference.
		for attempt := 0; attempt < 2; attempt++ {
			tallies = map[string]*tally{}
			for _, f := range fields {
				tallies[f] = &tally{documented: map[string]int{}}
			}
			maxStart, maxEnd = 0, 0
			for _, dynamic := range []bool{false, true} {
				sdk, ours := run(t, o, dynamic)
				s, e := compare(t, o.name, dynamic, sdk, ours, tallies)
				maxStart, maxEnd = max(maxStart, s), max(maxEnd, e)
			}
			timing := tallies["start_time"].bugs
			timing = append(timing, tallies["end_time"].bugs...)
			if len(timing) == 0 || len(timing) != totalBugs(tallies) || attempt == 1 {
				break
			}
			t.Logf("%s: measuring again after time differences over %v: %v", o.name, maxTimeDelta, timing)
		}
		fmt.Fprintf(&doc, "\n### %s\n\n| field | compared | equal | documented differences | bugs |\n|---|---|---|---|---|\n", o.name)
		for _, f := range fields {
			tl := tallies[f]
			var reasons []string
			n := 0
			for why, c := range tl.documented {
				reasons = append(reasons, fmt.Sprintf("%d × %s", c, strings.TrimPrefix(why, o.name+": ")))
				n += c
			}
			sort.Strings(reasons)
			fmt.Fprintf(&doc, "| `%s` | %d | %d | %s | %d |\n", f, tl.compared, tl.equal, strings.Join(reasons, "<br>"), len(tl.bugs))
			for _, b := range tl.bugs {
				t.Errorf("undocumented difference: %s", b)
			}
		}
		t.Logf("%s: largest start_time difference %v, end_time %v", o.name, maxStart, maxEnd)
	}
	path := "../docs/conformance.md"
	if *update {
		if err := writeDoc(path, doc.String()); err != nil {
			t.Fatal(err)
		}
		return
	}
	b, err := os.ReadFile(path)
	if err != nil || !strings.Contains(string(b), doc.String()) {
		t.Errorf("docs/conformance.md is not the table this run produced (go test ./conformance -update):\n%s", doc.String())
	}
}

func totalBugs(tallies map[string]*tally) int {
	n := 0
	for _, tl := range tallies {
		n += len(tl.bugs)
	}
	return n
}

func writeDoc(path, table string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	const begin, end = "<!-- table begin -->", "<!-- table end -->"
	s := string(b)
	i, j := strings.Index(s, begin), strings.Index(s, end)
	if i < 0 || j < i {
		return fmt.Errorf("%s lacks the %s and %s markers", path, begin, end)
	}
	return os.WriteFile(path, []byte(s[:i+len(begin)]+"\n"+table+"\n"+s[j:]), 0o644)
}

package segmenter

import (
	"encoding/json"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/xray-capture/xray-capture/capture"
	"github.com/xray-capture/xray-capture/httpparse"
	"github.com/xray-capture/xray-capture/naming"
	"github.com/xray-capture/xray-capture/xray"
)

// collectSink keeps the JSON of every segment.
type collectSink struct{ docs []map[string]any }

func (c *collectSink) Emit(s *xray.Segment) {
	var m map[string]any
	if err := json.Unmarshal(s.AppendJSON(nil), &m); err != nil {
		panic(err)
	}
	c.docs = append(c.docs, m)
}

// conv drives one TCP connection packet by packet with correct sequence and
// acknowledgement numbers, so that tests can drop or reorder what they want.
type conv struct {
	tb         testing.TB
	t          *Tracker
	cport      uint16
	cseq, sseq uint32
	ts         time.Time
}

var (
	clientIP = netip.MustParseAddr("198.51.100.7")
	serverIP = netip.MustParseAddr("198.51.100.1")
)

func newTracker(t *testing.T) (*Tracker, *collectSink) {
	t.Helper()
	return newTrackerWith(t, func(*Config) {})
}

// newTrackerWith is newTracker with the settings set changes.
func newTrackerWith(t testing.TB, set func(*Config)) (*Tracker, *collectSink) {
	t.Helper()
	fixed, _ := naming.NewFixed("svc")
	sink := &collectSink{}
	cfg := Config{Ports: []uint16{80}, Namer: fixed, Sink: sink, IDs: xray.NewSeededIDGen(1), SDKVersion: "test"}
	set(&cfg)
	tr, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return tr, sink
}

func newConv(tb testing.TB, tr *Tracker, port uint16) *conv {
	c := &conv{tb: tb, t: tr, cport: port, cseq: 1000, sseq: 5000, ts: time.Unix(1700000000, 0)}
	c.send(true, "", capture.FlagSYN)
	c.send(false, "", capture.FlagSYN|capture.FlagACK)
	return c
}

// packet builds the next segment of one side without sending it.
func (c *conv) packet(fromClient bool, data string, flags uint8) capture.Packet {
	c.ts = c.ts.Add(time.Millisecond)
	p := capture.Packet{Timestamp: c.ts, Flags: flags | capture.FlagACK, Payload: []byte(data), PayloadLen: len(data)}
	if flags&capture.FlagSYN != 0 && flags&capture.FlagACK == 0 {
		p.Flags = flags
	}
	if fromClient {
		p.SrcIP, p.DstIP, p.SrcPort, p.DstPort = clientIP, serverIP, c.cport, 80
		p.Seq, p.Ack = c.cseq, c.sseq
		c.cseq += uint32(len(data))
	} else {
		p.SrcIP, p.DstIP, p.SrcPort, p.DstPort = serverIP, clientIP, 80, c.cport
		p.Seq, p.Ack = c.sseq, c.cseq
		c.sseq += uint32(len(data))
	}
	if flags&(capture.FlagSYN|capture.FlagFIN) != 0 {
		// A SYN or FIN takes a sequence number of its own.
		if fromClient {
			c.cseq++
		} else {
			c.sseq++
		}
	}
	return p
}

// age lets capture time pass beyond the hole bounds, with one pure ACK from
// the client, so that holes are declared lost.
func (c *conv) age() {
	c.ts = c.ts.Add(300 * time.Millisecond)
	c.send(true, "", 0)
}

func (c *conv) send(fromClient bool, data string, flags uint8) {
	p := c.packet(fromClient, data, flags)
	handle(c.tb, c.t, &p)
}

func req(path string, extra ...string) string {
	return "GET " + path + " HTTP/1.1\r\nHost: shop.test\r\n" + strings.Join(extra, "") + "\r\n"
}

func resp(status int, body string) string {
	return "HTTP/1.1 " + itoa(status) + " X\r\nContent-Length: " + itoa(len(body)) + "\r\n\r\n" + body
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// summary reduces segments to "PATH STATUS" (status "-" for none), plus the
// capture_outcome annotation if any.
func summary(docs []map[string]any) []string {
	var out []string
	for _, d := range docs {
		h := d["http"].(map[string]any)
		u := h["request"].(map[string]any)["url"].(string)
		s := u[strings.Index(u[7:], "/")+7:] + " "
		if r, ok := h["response"].(map[string]any); ok {
			s += itoa(int(r["status"].(float64)))
		} else {
			s += "-"
		}
		if a, ok := d["annotations"].(map[string]any); ok {
			if o, ok := a["capture_outcome"]; ok {
				s += " " + o.(string)
			}
			if a["capture_gap"] == true {
				s += " gap"
			}
			if a["pairing"] == "ack-resync" {
				s += " resync"
			}
			if a["connect_tunnel"] == true {
				s += " tunnel"
			}
		}
		if d["in_progress"] == true {
			s += " in_progress"
		}
		out = append(out, s)
	}
	return out
}

func check(t *testing.T, sink *collectSink, want ...string) {
	t.Helper()
	got := summary(sink.docs)
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("segments %q, want %q", got, want)
	}
}

func TestPipelinedPairing(t *testing.T) {
	tr, sink := newTracker(t)
	c := newConv(t, tr, 40001)
	c.send(true, req("/a")+req("/b")+req("/c"), 0)
	c.send(false, resp(200, "aa")+resp(404, "b"), 0)
	c.send(false, resp(503, ""), 0)
	check(t, sink, "/a 200", "/b 404", "/c 503")
}

func TestLostResponseNeverMisPairs(t *testing.T) {
	tr, sink := newTracker(t)
	c := newConv(t, tr, 40002)
	c.send(true, req("/1"), 0)
	c.send(false, resp(200, "one"), 0)
	c.send(true, req("/2"), 0)
	c.packet(false, resp(500, "two"), 0) // lost by the capture
	c.send(true, req("/3"), 0)           // its ACK covers the lost response
	c.send(false, resp(201, "three"), 0)
	c.age()
	c.send(true, "", capture.FlagFIN)
	c.send(false, "", capture.FlagFIN)
	// /3's first packet acknowledges exactly where the 201 starts, and the
	// server's FIN ends exactly where it ends: an anchor, confirmed.
	check(t, sink, "/1 200", "/3 201 resync")
	if tr.Stats.UnpairedRequests != 1 || tr.Stats.ResyncConfirmed != 1 || tr.cfg.Budget.AgedHoles+tr.cfg.Budget.PacketHoles == 0 {
		t.Errorf("stats %+v", tr.Stats)
	}
}

func TestLostResponseStrict(t *testing.T) {
	tr, sink := newTrackerWith(t, func(c *Config) { c.Pairing = PairingStrict })
	c := newConv(t, tr, 40012)
	c.send(true, req("/1"), 0)
	c.send(false, resp(200, "one"), 0)
	c.send(true, req("/2"), 0)
	c.packet(false, resp(500, "two"), 0) // lost by the capture
	c.send(true, req("/3"), 0)
	c.send(false, resp(201, "three"), 0)
	c.age()
	c.send(true, "", capture.FlagFIN)
	c.send(false, "", capture.FlagFIN)
	check(t, sink, "/1 200")
	if tr.Stats.UnpairedRequests != 2 || tr.Stats.UnpairedResponses != 1 || tr.Stats.ResyncAnchors != 0 {
		t.Errorf("stats %+v", tr.Stats)
	}
}

func TestLostRequestNeverMisPairs(t *testing.T) {
	tr, sink := newTracker(t)
	c := newConv(t, tr, 40003)
	c.send(true, req("/1"), 0)
	c.send(false, resp(200, "one"), 0)
	c.packet(true, req("/2"), 0)       // lost by the capture
	c.send(false, resp(404, "two"), 0) // acknowledges it
	c.send(true, req("/3"), 0)
	c.send(false, resp(200, "three"), 0)
	c.age()
	check(t, sink, "/1 200")
	// The 404 was sent before /3 arrived (its ACK says so); the 200 answers
	// /3, which came right after lost client bytes: no anchor, since a lost
	// request may have been pipelined with it.
	if tr.Stats.ResponseBeforeRequest != 1 || tr.Stats.UnpairedResponses != 1 || tr.Stats.ResyncAnchors != 0 {
		t.Errorf("stats %+v", tr.Stats)
	}
}

func TestGapInBodyKeepsPairing(t *testing.T) {
	tr, sink := newTracker(t)
	c := newConv(t, tr, 40004)
	c.send(true, req("/big"), 0)
	c.send(false, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123", 0)
	c.packet(false, "45", 0) // lost
	c.send(false, "6789", 0)
	c.send(true, req("/next"), 0)
	c.send(false, resp(204, ""), 0)
	c.age()
	check(t, sink, "/big 200 gap", "/next 204")
}

func TestExtraResponseIsNotPaired(t *testing.T) {
	// As in Zeek's http-desync trace: more responses than requests.
	tr, sink := newTracker(t)
	c := newConv(t, tr, 40005)
	c.send(true, req("/1"), 0)
	c.send(false, resp(200, "a")+resp(200, "b"), 0)
	c.send(true, req("/2"), 0)
	c.send(false, resp(302, ""), 0)
	check(t, sink, "/1 200", "/2 302")
	if tr.Stats.UnpairedResponses != 1 {
		t.Errorf("stats %+v", tr.Stats)
	}
}

func TestResponseBeforeRequestBytes(t *testing.T) {
	// A response whose ACK shows the server had not seen the queued request.
	tr, sink := newTracker(t)
	c := newConv(t, tr, 40006)
	c.send(true, req("/1"), 0)
	c.send(false, resp(200, "a"), 0)
	early := c.packet(false, resp(500, "x"), 0) // sent before /2 arrived
	p2 := c.packet(true, req("/2"), 0)
	p2.Ack = early.Seq // and /2 sent before the client got it
	handle(t, tr, &p2)
	handle(t, tr, &early)
	c.send(false, resp(201, "b"), 0)
	check(t, sink, "/1 200", "/2 201")
	if tr.Stats.ResponseBeforeRequest != 1 {
		t.Errorf("stats %+v", tr.Stats)
	}
}

func TestOrphans(t *testing.T) {
	tr, sink := newTracker(t)
	c := newConv(t, tr, 40007)
	c.send(true, req("/reset"), 0)
	c.send(true, "", capture.FlagRST)
	d := newConv(t, tr, 40008)
	d.send(true, req("/closed"), 0)
	d.send(true, "", capture.FlagFIN)
	d.send(false, "", capture.FlagFIN)
	e := newConv(t, tr, 40009)
	e.send(true, req("/slow"), 0)
	e.send(false, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial", 0)
	e.send(false, "", capture.FlagFIN)
	f := newConv(t, tr, 40010)
	f.send(true, req("/timeout"), 0)
	f.ts = f.ts.Add(61 * time.Second)
	f.send(true, "", 0) // a keep-alive probe a minute later drives the clock
	f.send(true, req("/pending"), 0)
	tr.Close(f.ts)
	check(t, sink, "/reset - reset", "/closed - closed", "/slow 200 closed", "/timeout - timeout", "/pending - in_progress")
	if tr.Stats.InFlightAtEnd != 1 || tr.Stats.OrphanTimeout != 1 || tr.Stats.OrphanReset != 1 || tr.Stats.OrphanClosed != 1 {
		t.Errorf("stats %+v", tr.Stats)
	}
	for _, d := range sink.docs {
		if d["in_progress"] == true {
			if d["fault"] != nil || d["end_time"] != nil {
				t.Errorf("in-progress segment with a fault or an end: %v", d)
			}
			continue
		}
		if _, ok := d["http"].(map[string]any)["response"]; !ok && d["fault"] != true {
			t.Errorf("unanswered request without fault: %v", d)
		}
	}
}

func TestSampledZeroIsNotSent(t *testing.T) {
	tr, sink := newTracker(t)
	c := newConv(t, tr, 40011)
	c.send(true, req("/no", "X-Amzn-Trace-Id: Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=0\r\n"), 0)
	c.send(false, resp(200, ""), 0)
	c.send(true, req("/yes", "X-Amzn-Trace-Id: Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1\r\n"), 0)
	c.send(false, resp(200, ""), 0)
	check(t, sink, "/yes 200")
	if d := sink.docs[0]; d["trace_id"] != "1-5759e988-bd862e3fe1be46a994272793" || d["parent_id"] != "53995c3f42cd8ad8" {
		t.Errorf("trace header not continued: %v", d)
	}
	if tr.Stats.NotSampledHeader != 1 {
		t.Errorf("stats %+v", tr.Stats)
	}
}

// TestTraceParentContinuesTrace: a W3C traceparent alone gives the
// segment its trace and parent, carries tracestate, and its flag 00
// decides as Sampled=0 does.
func TestTraceParentContinuesTrace(t *testing.T) {
	tr, sink := newTrackerWith(t, func(*Config) {})
	var states []string
	tr.cfg.Sink = sinkFunc(func(s *xray.Segment) {
		states = append(states, string(s.TraceState))
		sink.Emit(s)
	})
	c := newConv(t, tr, 40012)
	c.send(true, req("/no", "traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00\r\n"), 0)
	c.send(false, resp(200, ""), 0)
	c.send(true, req("/yes", "traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\ntracestate: a=1\r\n"), 0)
	c.send(false, resp(200, ""), 0)
	c.send(true, req("/both", "X-Amzn-Trace-Id: Root=1-5759e988-bd862e3fe1be46a994272793\r\ntraceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\ntracestate: a=1\r\n"), 0)
	c.send(false, resp(200, ""), 0)
	check(t, sink, "/yes 200", "/both 200")
	if d := sink.docs[0]; d["trace_id"] != "1-4bf92f35-77b34da6a3ce929d0e0e4736" || d["parent_id"] != "00f067aa0ba902b7" {
		t.Errorf("traceparent not continued: %v", d)
	}
	if d := sink.docs[1]; d["trace_id"] != "1-5759e988-bd862e3fe1be46a994272793" || d["parent_id"] != nil {
		t.Errorf("X-Amzn-Trace-Id did not win: %v", d)
	}
	if want := []string{"a=1", ""}; states[0] != want[0] || states[1] != want[1] {
		t.Errorf("tracestate %q, want %q (carried only with the traceparent's trace)", states, want)
	}
	if tr.Stats.NotSampledHeader != 1 || tr.Stats.SampledByHeader != 2 {
		t.Errorf("stats %+v", tr.Stats)
	}
}

type sinkFunc func(*xray.Segment)

func (f sinkFunc) Emit(s *xray.Segment) { f(s) }

func TestBoundsEvictOldestAndBudgetHeaders(t *testing.T) {
	fixed, _ := naming.NewFixed("svc")
	sink := &collectSink{}
	budget := &httpparse.Budget{MaxBytes: 64 << 10}
	lim := httpparse.DefaultLimits
	lim.Budget = budget
	tr, err := New(Config{Ports: []uint16{80}, Namer: fixed, Sink: sink, IDs: xray.NewSeededIDGen(1),
		MaxConnections: 100, ParseLimits: lim})
	if err != nil {
		t.Fatal(err)
	}
	// 300 slow senders, each a header block cut after 1 KiB: more
	// connections than the table holds and more bytes than the budget.
	slow := strings.Repeat("X-Pad: "+strings.Repeat("p", 90)+"\r\n", 11)
	for i := range 300 {
		c := newConv(t, tr, uint16(30000+i))
		c.send(true, "GET /slow HTTP/1.1\r\nHost: x\r\n"+slow, 0)
	}
	if got := len(tr.conns); got != 100 {
		t.Errorf("%d connections tracked, bound 100", got)
	}
	if budget.Used() > budget.MaxBytes {
		t.Errorf("parsers hold %d bytes, budget %d", budget.Used(), budget.MaxBytes)
	}
	// Normal traffic still goes through.
	c := newConv(t, tr, 40100)
	c.send(true, req("/ok"), 0)
	c.send(false, resp(200, "fine"), 0)
	check(t, sink, "/ok 200")
	if tr.Stats.ConnTableFull == 0 {
		t.Error("no connection was evicted")
	}
	if tr.Stats.HeaderEvictions == 0 {
		t.Error("no slow sender's header block was evicted")
	}
	t.Logf("connections evicted %d, header blocks evicted %d, budget refusals %d, held %d bytes",
		tr.Stats.ConnTableFull, tr.Stats.HeaderEvictions, budget.Refused, budget.Used())
}

func TestStatsAddSumsEveryField(t *testing.T) {
	var a, b Stats
	// Distinct values in every field, through the same reflection the sum
	// uses, and the sum checked through Counters, which names each one.
	n := uint64(1)
	for _, st := range []*Stats{&a, &b} {
		v := reflect.ValueOf(st).Elem()
		for i := range v.NumField() {
			f := v.Field(i)
			if f.Kind() == reflect.Array {
				for j := range f.Len() {
					f.Index(j).SetUint(n)
					n++
				}
				continue
			}
			f.SetUint(n)
			n++
		}
	}
	want := map[string]uint64{}
	for _, c := range a.Counters() {
		want[c.Name] += c.Value
	}
	for _, c := range b.Counters() {
		want[c.Name] += c.Value
	}
	open := a.OpenConnections + b.OpenConnections
	a.Add(&b)
	for _, c := range a.Counters() {
		if c.Value != want[c.Name] {
			t.Errorf("%s: %d, want %d", c.Name, c.Value, want[c.Name])
		}
	}
	if a.OpenConnections != open {
		t.Errorf("OpenConnections %d, want %d", a.OpenConnections, open)
	}
}

package emitter

import (
	"compress/gzip"
	"context"
	"io"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"testing"
	"time"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/xray-capture/xray-capture/xray"
)

// testSegment is a finished request with every field the span carries.
func testSegment() *xray.Segment {
	s := &xray.Segment{Name: []byte("shop"), Method: []byte("GET"), URL: []byte("http://shop.example:8080/api/items"),
		UserAgent: []byte("curl/8"), HasUserAgent: true, ClientIP: []byte("203.0.113.7"), XForwardedFor: true,
		HasResponse: true, Status: 503, ContentLength: 12, Fault: true, Outcome: "reset", CaptureGap: true,
		ParentID: []byte("53995c3f42cd8ad8"), TraceState: []byte("a=1"),
		Peer: netip.MustParseAddrPort("192.0.2.2:41000"), Start: time.Unix(1700000000, 0), End: time.Unix(1700000001, 0)}
	copy(s.ID[:], "0123456789abcdef")
	copy(s.TraceID[:], "1-5759e988-bd862e3fe1be46a994272793")
	return s
}

// faultReceiver is an OTLP receiver, over HTTP or gRPC, that can be slow
// (it answers after delay) and can be stopped and started again on the
// same port. It counts the spans of the requests it accepted.
type faultReceiver struct {
	t     *testing.T
	grpc  bool
	addr  string
	delay time.Duration

	mu       sync.Mutex
	spans    int
	requests int
	stopFn   func()
}

func (r *faultReceiver) url() string {
	if r.grpc {
		return "grpc://" + r.addr
	}
	return "http://" + r.addr + "/v1/traces"
}

// start listens on addr, or on a new port the first time.
func (r *faultReceiver) start() {
	addr := r.addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		r.t.Fatal(err)
	}
	r.addr = ln.Addr().String()
	if r.grpc {
		srv := grpc.NewServer()
		coltracepb.RegisterTraceServiceServer(srv, &faultGRPC{r: r})
		go srv.Serve(ln)
		r.stopFn = srv.Stop
	} else {
		srv := &http.Server{Handler: r}
		go srv.Serve(ln)
		r.stopFn = func() { srv.Close() }
	}
}

// stop closes the listener and every connection, as a receiver that
// crashes does.
func (r *faultReceiver) stop() {
	if r.stopFn != nil {
		r.stopFn()
		r.stopFn = nil
	}
}

// accept waits delay, or until the client gives up, and counts the spans.
func (r *faultReceiver) accept(ctx context.Context, er *coltracepb.ExportTraceServiceRequest) error {
	r.mu.Lock()
	r.requests++
	r.mu.Unlock()
	select {
	case <-time.After(r.delay):
	case <-ctx.Done():
		return ctx.Err()
	}
	n := 0
	for _, rs := range er.ResourceSpans {
		for _, ss := range rs.ScopeSpans {
			n += len(ss.Spans)
		}
	}
	r.mu.Lock()
	r.spans += n
	r.mu.Unlock()
	return nil
}

func (r *faultReceiver) received() (spans, requests int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.spans, r.requests
}

func (r *faultReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	zr, err := gzip.NewReader(req.Body)
	if err != nil {
		r.t.Errorf("body is not gzip: %v", err)
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	body, err := io.ReadAll(zr)
	var er coltracepb.ExportTraceServiceRequest
	if err == nil {
		err = proto.Unmarshal(body, &er)
	}
	if err != nil {
		r.t.Errorf("request: %v", err)
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	if r.accept(req.Context(), &er) != nil {
		return
	}
	b, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
	w.Write(b)
}

type faultGRPC struct {
	coltracepb.UnimplementedTraceServiceServer
	r *faultReceiver
}

func (g *faultGRPC) Export(ctx context.Context, er *coltracepb.ExportTraceServiceRequest) (*coltracepb.ExportTraceServiceResponse, error) {
	if err := g.r.accept(ctx, er); err != nil {
		return nil, err
	}
	return &coltracepb.ExportTraceServiceResponse{}, nil
}

// offer emits spans at about rate per 10 ms for d, as a capture would,
// and returns how many it offered and the longest Emit or Flush took.
func offer(sink *OTLPSink, d time.Duration, rate int) (n int, longest time.Duration) {
	s := testSegment()
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		for range rate {
			t0 := time.Now()
			sink.Emit(s)
			longest = max(longest, time.Since(t0))
			n++
		}
		t0 := time.Now()
		sink.Flush()
		longest = max(longest, time.Since(t0))
		time.Sleep(10 * time.Millisecond)
	}
	return n, longest
}

// checkAccounting: every span offered was sent or counted dropped; no
// more batches were made than the queue's bound, and none grew.
func checkAccounting(t *testing.T, x *OTLP, offered int, longest time.Duration) [otlpDropReasons]uint64 {
	t.Helper()
	d := x.Dropped()
	var dropped uint64
	for _, v := range d {
		dropped += v
	}
	if x.Sent()+dropped != uint64(offered) {
		t.Errorf("sent %d + dropped %v = %d, offered %d", x.Sent(), d, x.Sent()+dropped, offered)
	}
	if made := int(x.batches.Load()); made > cap(x.free) {
		t.Errorf("%d batches made, the bound is %d", made, cap(x.free))
	}
	for len(x.free) > 0 {
		if b := <-x.free; cap(b.buf) != otlpBatchCap {
			t.Errorf("a batch grew to %d bytes", cap(b.buf))
		}
	}
	// Emit and Flush never wait for the receiver; the bound is loose
	// only for a shared machine's scheduling.
	if longest > 200*time.Millisecond {
		t.Errorf("an Emit or Flush took %v: capture waited for the receiver", longest)
	}
	return d
}

func forBothTransports(t *testing.T, f func(t *testing.T, grpc bool)) {
	for _, grpc := range []bool{false, true} {
		t.Run(map[bool]string{false: "http", true: "grpc"}[grpc], func(t *testing.T) { f(t, grpc) })
	}
}

// TestOTLPSlowReceiver: a receiver that answers after 2 s. Capture goes
// on at full speed, the queue fills and drops (queue_full), memory stays
// within the queue's batches, and every span is sent or counted.
func TestOTLPSlowReceiver(t *testing.T) {
	forBothTransports(t, func(t *testing.T, grpc bool) {
		r := &faultReceiver{t: t, grpc: grpc, delay: 2 * time.Second}
		r.start()
		defer r.stop()
		x, err := NewOTLP(OTLPConfig{URL: r.url(), GRPC: grpc, BatchSize: 128, Delay: 20 * time.Millisecond, QueueSpans: 256,
			ShutdownTimeout: 3 * time.Second}, 1)
		if err != nil {
			t.Fatal(err)
		}
		sink := x.Sink()
		offered, longest := offer(sink, 3*time.Second, 20)
		sink.Flush()
		x.Close()
		d := checkAccounting(t, x, offered, longest)
		if d[OTLPDropQueueFull] == 0 {
			t.Errorf("a receiver answering every 2 s kept up with %d spans in 3 s: %v", offered, d)
		}
		got, reqs := r.received()
		if x.Sent() == 0 || uint64(got) < x.Sent() {
			t.Errorf("sent %d, the receiver accepted %d in %d requests", x.Sent(), got, reqs)
		}
		t.Logf("offered %d, sent %d, dropped %v, longest Emit/Flush %v", offered, x.Sent(), d, longest)
	})
}

// TestOTLPReceiverRestarts: the receiver goes away mid-run (listener and
// connections closed) and comes back 2 s later on the same port. Capture
// goes on, the request in flight is retried, later spans reach the new
// receiver, and every span is sent or counted. The outage's spans (about
// a thousand, in small batches as the live pump flushes them) fit in the
// queue's 4,096 spans: none is lost.
func TestOTLPReceiverRestarts(t *testing.T) {
	forBothTransports(t, func(t *testing.T, grpc bool) {
		r := &faultReceiver{t: t, grpc: grpc}
		r.start()
		defer func() { r.stop() }()
		x, err := NewOTLP(OTLPConfig{URL: r.url(), GRPC: grpc, BatchSize: 128, Delay: 20 * time.Millisecond, QueueSpans: 4096,
			RetryInitial: 200 * time.Millisecond, RetryMax: time.Second, ShutdownTimeout: 3 * time.Second}, 1)
		if err != nil {
			t.Fatal(err)
		}
		sink := x.Sink()
		var offered int
		var longest time.Duration
		step := func(d time.Duration) {
			n, l := offer(sink, d, 5)
			offered += n
			longest = max(longest, l)
		}
		step(time.Second)
		before, _ := r.received()
		r.stop()
		step(2 * time.Second)
		r.start()
		step(2 * time.Second)
		sink.Flush()
		x.Close()
		d := checkAccounting(t, x, offered, longest)
		after, _ := r.received()
		if before == 0 || after <= before {
			t.Errorf("the receiver accepted %d spans before the restart and %d after", before, after-before)
		}
		if uint64(after) < x.Sent() {
			t.Errorf("sent %d, the receivers accepted %d", x.Sent(), after)
		}
		if d != [otlpDropReasons]uint64{} {
			t.Errorf("dropped %v of %d offered: the queue holds 4,096 spans; last error %v", d, offered, x.LastError())
		}
		t.Logf("offered %d, sent %d, dropped %v, longest Emit/Flush %v", offered, x.Sent(), d, longest)
	})
}

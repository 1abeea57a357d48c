package emitter

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/proto"
)

// TestOTLPEmitDoesNotAlloc: encoding a span and handing batches over
// allocates nothing once the batches exist. The exporter's goroutine is
// not started, so that only the capture side is measured: the queue
// fills, and later batches are dropped and counted.
func TestOTLPEmitDoesNotAlloc(t *testing.T) {
	x, err := newOTLP(OTLPConfig{URL: "http://127.0.0.1:1/v1/traces", QueueSpans: 64}, 1)
	if err != nil {
		t.Fatal(err)
	}
	sink := x.Sink()
	s := testSegment()
	for range 1000 {
		sink.Emit(s)
	}
	if n := testing.AllocsPerRun(1000, func() { sink.Emit(s) }); n != 0 {
		t.Errorf("%v allocations per span", n)
	}
	if x.Dropped()[OTLPDropQueueFull] == 0 {
		t.Error("a full queue dropped nothing")
	}
}

func TestSplitURL(t *testing.T) {
	for _, tc := range []struct {
		url, scheme, host string
		port              int
		path              string
	}{
		{"http://shop.example/a/b", "http", "shop.example", 80, "/a/b"},
		{"http://shop.example:8080/", "http", "shop.example", 8080, "/"},
		{"https://shop.example/x", "https", "shop.example", 443, "/x"},
		{"http://[2001:db8::1]:8080/hello", "http", "2001:db8::1", 8080, "/hello"},
		{"http://192.0.2.1:443", "http", "192.0.2.1", 443, ""},
	} {
		scheme, host, port, path := splitURL([]byte(tc.url))
		if string(scheme) != tc.scheme || string(host) != tc.host || port != tc.port || string(path) != tc.path {
			t.Errorf("%s: %s %s %d %s", tc.url, scheme, host, port, path)
		}
	}
}

// BenchmarkOTLPExport: a span's whole way out, capture side and sender
// (request encoding, gzip, HTTP POST) to a loopback receiver that reads
// and discards the body. cpu-ns/span is the process's CPU time (user and
// system, the receiver's small share included) per span; allocs/op counts
// every goroutine's allocations, the HTTP client's per request included,
// shared by the request's spans.
func BenchmarkOTLPExport(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
	}))
	defer srv.Close()
	// The queue holds every span, so that none is dropped and the sender's
	// work is all counted.
	x, err := NewOTLP(OTLPConfig{URL: srv.URL + "/v1/traces", QueueSpans: b.N + otlpBatchSpans, NoGzip: os.Getenv("OTLP_BENCH_NOGZIP") != ""}, 1)
	if err != nil {
		b.Fatal(err)
	}
	sink := x.Sink()
	s := testSegment()
	var before, after unix.Rusage
	unix.Getrusage(unix.RUSAGE_SELF, &before)
	b.ReportAllocs()
	b.ResetTimer()
	// Emit hands a batch over at 64 spans, as under load, where the ring's
	// blocks carry more than that.
	for range b.N {
		sink.Emit(s)
	}
	sink.Flush()
	x.Close()
	b.StopTimer()
	unix.Getrusage(unix.RUSAGE_SELF, &after)
	if x.Sent() != uint64(b.N) {
		b.Fatalf("sent %d of %d spans, dropped %v", x.Sent(), b.N, x.Dropped())
	}
	cpu := time.Duration(after.Utime.Nano() + after.Stime.Nano() - before.Utime.Nano() - before.Stime.Nano())
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/span")
}

func TestPartialRejected(t *testing.T) {
	enc := func(m *coltracepb.ExportTraceServiceResponse) []byte {
		b, err := proto.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for _, tc := range []struct {
		name string
		b    []byte
		want int
	}{
		{"empty", nil, 0},
		{"no partial success", enc(&coltracepb.ExportTraceServiceResponse{}), 0},
		{"rejected", enc(&coltracepb.ExportTraceServiceResponse{PartialSuccess: &coltracepb.ExportTracePartialSuccess{
			ErrorMessage: "too old", RejectedSpans: 7}}), 7},
		{"message only", enc(&coltracepb.ExportTraceServiceResponse{PartialSuccess: &coltracepb.ExportTracePartialSuccess{
			ErrorMessage: "note"}}), 0},
		{"garbage", []byte{0x0a, 0xff}, 0},
	} {
		if got := partialRejected(tc.b); got != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, got, tc.want)
		}
	}
}

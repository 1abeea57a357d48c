package main

import (
	"compress/gzip"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/spf13/cobra"

	"github.com/xray-capture/xray-capture/internal/testutil"
)

// otlpReceiver stands in for a collector's OTLP/HTTP receiver: it checks
// what the specification asks of a request and decodes it with the
// generated protobuf types. answer, if set, picks the answer of request
// number i (from 0); nil answers 200.
type otlpReceiver struct {
	t      *testing.T
	url    string // for --otlp-endpoint
	srv    *httptest.Server
	answer func(i int, w http.ResponseWriter) bool // true: answered, drop the request

	mu       sync.Mutex
	requests int
	spans    []receivedSpan
}

type receivedSpan struct {
	resource map[string]string
	span     *tracepb.Span
}

func startOTLPReceiver(t *testing.T, answer func(int, http.ResponseWriter) bool) *otlpReceiver {
	r := &otlpReceiver{t: t, answer: answer}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	r.url = r.srv.URL
	return r
}

func (r *otlpReceiver) serve(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	i := r.requests
	r.requests++
	r.mu.Unlock()
	if req.URL.Path != "/v1/traces" || req.Method != http.MethodPost {
		r.t.Errorf("%s %s, want POST /v1/traces", req.Method, req.URL.Path)
	}
	if ct := req.Header.Get("Content-Type"); ct != "application/x-protobuf" {
		r.t.Errorf("Content-Type %q", ct)
	}
	if ce := req.Header.Get("Content-Encoding"); ce != "gzip" {
		r.t.Errorf("Content-Encoding %q, want gzip", ce)
	}
	if r.answer != nil && r.answer(i, w) {
		return
	}
	zr, err := gzip.NewReader(req.Body)
	if err != nil {
		r.t.Errorf("body is not gzip: %v", err)
		return
	}
	body, err := io.ReadAll(zr)
	if err != nil {
		r.t.Errorf("gzip body: %v", err)
		return
	}
	var er coltracepb.ExportTraceServiceRequest
	if err := proto.Unmarshal(body, &er); err != nil {
		r.t.Errorf("body is not an ExportTraceServiceRequest: %v", err)
		return
	}
	r.record(&er)
	w.Header().Set("Content-Type", "application/x-protobuf")
	b, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
	w.Write(b)
}

// record keeps a request's spans.
func (r *otlpReceiver) record(er *coltracepb.ExportTraceServiceRequest) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rs := range er.ResourceSpans {
		res := map[string]string{}
		for _, kv := range rs.Resource.Attributes {
			res[kv.Key] = kv.Value.GetStringValue()
		}
		for _, ss := range rs.ScopeSpans {
			if ss.Scope.GetName() != "xray-capture" {
				r.t.Errorf("scope %q", ss.Scope.GetName())
			}
			for _, sp := range ss.Spans {
				r.spans = append(r.spans, receivedSpan{res, sp})
			}
		}
	}
}

// requestCount is how many requests came so far.
func (r *otlpReceiver) requestCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.requests
}

func (r *otlpReceiver) received() []receivedSpan {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]receivedSpan(nil), r.spans...)
}

func attrMap(kvs []*commonpb.KeyValue) map[string]*commonpb.AnyValue {
	m := map[string]*commonpb.AnyValue{}
	for _, kv := range kvs {
		m[kv.Key] = kv.Value
	}
	return m
}

// replayBoth replays a capture to a fake daemon and an OTLP receiver at
// once, and returns the segments the daemon got and the command's stderr.
func replayBoth(t *testing.T, capture string, recv *otlpReceiver, env map[string]string, args ...string) ([]segmentDoc, string) {
	t.Helper()
	daemon := testutil.StartFakeDaemon(t)
	all := append([]string{"--read", filepath.Join(captures, capture), "--port", "8080", "--service-name", "shop",
		"--id-seed", "1", "--daemon-address", daemon.Addr, "--otlp-batch-delay", "50ms"}, args...)
	if env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "" {
		all = append(all, "--otlp-endpoint", recv.url)
	}
	_, stderr, err := runCLI(t, env, all...)
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	raw := daemon.Docs()
	docs := make([]segmentDoc, len(raw))
	for i, r := range raw {
		if err := json.Unmarshal(r, &docs[i]); err != nil {
			t.Fatal(err)
		}
	}
	return docs, stderr
}

// TestOTLPSpansMatchSegments: one span per segment of the same replay,
// each attribute what the segment says (docs/otlp.md, mapping table).
func TestOTLPSpansMatchSegments(t *testing.T) {
	recv := startOTLPReceiver(t, nil)
	docs, stderr := replayBoth(t, "keepalive.pcap", recv,
		map[string]string{"OTEL_RESOURCE_ATTRIBUTES": "deployment.environment.name=test,service.name=ignored"})
	checkSpansMatchSegments(t, docs, recv.received(), stderr)
}

// checkSpansMatchSegments compares the spans received with the segments
// the daemon got from the same replay, attribute by attribute.
func checkSpansMatchSegments(t *testing.T, docs []segmentDoc, spans []receivedSpan, stderr string) {
	t.Helper()
	if len(docs) == 0 || len(spans) != len(docs) {
		t.Fatalf("%d spans for %d segments", len(spans), len(docs))
	}
	if !strings.Contains(stderr, fmt.Sprintf("otlp_sent=%d", len(docs))) {
		t.Errorf("summary does not count the spans sent:\n%s", stderr)
	}
	byID := map[string]receivedSpan{}
	for _, s := range spans {
		byID[hex.EncodeToString(s.span.SpanId)] = s
	}
	for _, d := range docs {
		rs, ok := byID[d.ID]
		if !ok {
			t.Errorf("no span for segment %s", d.ID)
			continue
		}
		sp, a := rs.span, attrMap(rs.span.Attributes)
		str := func(k string) string { return a[k].GetStringValue() }
		if got := hex.EncodeToString(sp.TraceId); "1-"+got[:8]+"-"+got[8:] != d.TraceID {
			t.Errorf("%s: trace %s, segment %s", d.ID, got, d.TraceID)
		}
		if got := hex.EncodeToString(sp.ParentSpanId); got != d.ParentID {
			t.Errorf("%s: parent %q, segment %q", d.ID, got, d.ParentID)
		}
		if sp.Kind != tracepb.Span_SPAN_KIND_SERVER || sp.Name != d.HTTP.Request.Method || str("http.request.method") != d.HTTP.Request.Method {
			t.Errorf("%s: kind %v name %q method %q, segment %q", d.ID, sp.Kind, sp.Name, str("http.request.method"), d.HTTP.Request.Method)
		}
		if math.Abs(float64(sp.StartTimeUnixNano)/1e3-d.StartTime*1e6) > 1 || math.Abs(float64(sp.EndTimeUnixNano)/1e3-d.EndTime*1e6) > 1 {
			t.Errorf("%s: times %d %d, segment %f %f", d.ID, sp.StartTimeUnixNano, sp.EndTimeUnixNano, d.StartTime, d.EndTime)
		}
		// The URL as the X-Ray exporter rebuilds it for a server span.
		url := str("url.scheme") + "://" + str("server.address")
		if p := a["server.port"].GetIntValue(); p != 80 {
			url += fmt.Sprintf(":%d", p)
		}
		url += str("url.path")
		if url != d.HTTP.Request.URL {
			t.Errorf("%s: url %q, segment %q", d.ID, url, d.HTTP.Request.URL)
		}
		if str("client.address") != d.HTTP.Request.ClientIP || str("network.peer.address") != d.HTTP.Request.ClientIP ||
			a["network.peer.port"].GetIntValue() == 0 {
			t.Errorf("%s: client %q peer %q:%d, segment %q", d.ID, str("client.address"), str("network.peer.address"),
				a["network.peer.port"].GetIntValue(), d.HTTP.Request.ClientIP)
		}
		if str("user_agent.original") != d.HTTP.Request.UserAgent {
			t.Errorf("%s: user agent %q, segment %q", d.ID, str("user_agent.original"), d.HTTP.Request.UserAgent)
		}
		if r := d.HTTP.Response; r != nil {
			if a["http.response.status_code"].GetIntValue() != int64(r.Status) {
				t.Errorf("%s: status %v, segment %d", d.ID, a["http.response.status_code"], r.Status)
			}
			if r.ContentLength != nil && a["http.response.body.size"].GetIntValue() != *r.ContentLength {
				t.Errorf("%s: body size %v, segment %d", d.ID, a["http.response.body.size"], *r.ContentLength)
			}
		}
		isErr := sp.Status.GetCode() == tracepb.Status_STATUS_CODE_ERROR
		if isErr != d.Fault {
			t.Errorf("%s: status %v, segment fault %v", d.ID, sp.Status, d.Fault)
		}
		if d.Fault && d.HTTP.Response != nil && str("error.type") != fmt.Sprint(d.HTTP.Response.Status) {
			t.Errorf("%s: error.type %q for status %d", d.ID, str("error.type"), d.HTTP.Response.Status)
		}
		if !d.Fault && a["error.type"] != nil {
			t.Errorf("%s: error.type %q without a fault", d.ID, str("error.type"))
		}
		res := rs.resource
		if res["service.name"] != d.Name || res["telemetry.sdk.name"] != "xray-capture" || res["telemetry.sdk.language"] != "go" ||
			res["telemetry.sdk.version"] != version || res["deployment.environment.name"] != "test" {
			t.Errorf("%s: resource %v, segment name %q", d.ID, res, d.Name)
		}
	}
}

// TestOTLPRetryAfter: 503 and 429 with Retry-After are retried after the
// time they say, and every span arrives.
func TestOTLPRetryAfter(t *testing.T) {
	var times []time.Time
	var mu sync.Mutex
	recv := startOTLPReceiver(t, func(i int, w http.ResponseWriter) bool {
		mu.Lock()
		times = append(times, time.Now())
		mu.Unlock()
		switch i {
		case 0:
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusServiceUnavailable)
			return true
		case 1:
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			return true
		}
		return false
	})
	docs, stderr := replayBoth(t, "keepalive.pcap", recv, nil)
	if got := len(recv.received()); got != len(docs) {
		t.Fatalf("%d spans for %d segments\n%s", got, len(docs), stderr)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(times) != 3 || times[1].Sub(times[0]) < 900*time.Millisecond || times[2].Sub(times[1]) < 900*time.Millisecond {
		t.Errorf("requests at %v: want three, a second apart (Retry-After)", times)
	}
	if strings.Contains(stderr, "otlp_dropped") {
		t.Errorf("drops counted:\n%s", stderr)
	}
}

// TestOTLPRejected: a non-retryable answer loses the request's spans,
// counted, and is not retried.
func TestOTLPRejected(t *testing.T) {
	recv := startOTLPReceiver(t, func(i int, w http.ResponseWriter) bool {
		w.WriteHeader(http.StatusBadRequest)
		return true
	})
	docs, stderr := replayBoth(t, "keepalive.pcap", recv, nil)
	if !strings.Contains(stderr, fmt.Sprintf("otlp_dropped_rejected=%d", len(docs))) || !strings.Contains(stderr, "otlp_sent=0") {
		t.Errorf("summary:\n%s", stderr)
	}
	if n := recv.requestCount(); n != 1 {
		t.Errorf("%d requests, want 1 (400 is not retried)", n)
	}
}

// TestOTLPReceiverAbsent: with nothing listening, the replay still sends
// every segment to the daemon and counts every span as dropped.
func TestOTLPReceiverAbsent(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	daemon := testutil.StartFakeDaemon(t)
	start := time.Now()
	_, stderr, err := runCLI(t, nil, "--read", filepath.Join(captures, "keepalive.pcap"), "--port", "8080", "--service-name", "shop",
		"--daemon-address", daemon.Addr, "--otlp-endpoint", "http://"+addr)
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	n := len(daemon.Docs())
	if n == 0 || !strings.Contains(stderr, "otlp_sent=0") ||
		!strings.Contains(stderr, fmt.Sprintf("otlp_dropped_shutdown=%d", n)) && !strings.Contains(stderr, fmt.Sprintf("otlp_dropped_export_failed=%d", n)) {
		t.Errorf("%d segments; summary:\n%s", n, stderr)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("the replay took %v: the shutdown wait is 5 s", d)
	}
}

func TestOTLPEndpointFromEnvironment(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		args []string
		want string
		grpc bool
	}{
		{nil, []string{"--otlp-endpoint", "http://collector:4318"}, "http://collector:4318/v1/traces", false},
		{nil, []string{"--otlp-endpoint", "http://collector:4318/base/"}, "http://collector:4318/base/v1/traces", false},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "https://c:4318"}, nil, "https://c:4318/v1/traces", false},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "https://c:4318", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "https://t/custom"}, nil, "https://t/custom", false},
		{map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "https://t/custom"}, []string{"--otlp-endpoint", "http://flag:4318"}, "http://flag:4318/v1/traces", false},
		{nil, []string{"--otlp-endpoint", "grpc://collector:4317"}, "grpc://collector:4317", true},
		{map[string]string{"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc", "OTEL_EXPORTER_OTLP_ENDPOINT": "https://c:4317"}, nil, "https://c:4317", true},
		{map[string]string{"OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "grpc"}, []string{"--otlp-endpoint", "http://c:4317"}, "http://c:4317", true},
		{map[string]string{"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/protobuf"}, []string{"--otlp-endpoint", "http://c:4318"}, "http://c:4318/v1/traces", false},
	} {
		cmd := newRootCmdWith(io.Discard, io.Discard, func(k string) (string, bool) { v, ok := tc.env[k]; return v, ok },
			func(_ *cobra.Command, o *Options) error {
				if o.OTLP == nil || o.OTLP.URL != tc.want || o.OTLP.GRPC != tc.grpc {
					t.Errorf("env %v args %v: %+v, want %s (gRPC %v)", tc.env, tc.args, o.OTLP, tc.want, tc.grpc)
				}
				return nil
			})
		cmd.SetArgs(append([]string{"--port", "80", "--service-name", "s", "--daemon-address", "off"}, tc.args...))
		if err := cmd.Execute(); err != nil {
			t.Errorf("%v: %v", tc, err)
		}
	}
	// Compression: the traces variable wins over the general one, either way.
	for _, tc := range []struct {
		general, traces string
		gzip            bool
	}{{"none", "gzip", true}, {"gzip", "none", false}, {"none", "", false}, {"", "", true}} {
		env := map[string]string{"OTEL_EXPORTER_OTLP_COMPRESSION": tc.general, "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION": tc.traces}
		cmd := newRootCmdWith(io.Discard, io.Discard, func(k string) (string, bool) { v, ok := env[k]; return v, ok },
			func(_ *cobra.Command, o *Options) error {
				if o.OTLP.NoGzip == tc.gzip {
					t.Errorf("compression %q then %q: gzip %v, want %v", tc.general, tc.traces, !o.OTLP.NoGzip, tc.gzip)
				}
				return nil
			})
		cmd.SetArgs([]string{"--port", "80", "--service-name", "s", "--daemon-address", "off", "--otlp-endpoint", "http://c:4318"})
		if err := cmd.Execute(); err != nil {
			t.Errorf("compression %q then %q: %v", tc.general, tc.traces, err)
		}
	}
	for _, tc := range []struct {
		env  map[string]string
		args []string
		want string
	}{
		{map[string]string{"OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"}, []string{"--otlp-endpoint", "http://c:4318"}, "http/json is not supported"},
		{map[string]string{"OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"}, []string{"--otlp-endpoint", "grpc://c:4317"}, "a gRPC endpoint, but OTEL_EXPORTER_OTLP_PROTOCOL is http/protobuf"},
		{nil, []string{"--otlp-endpoint", "udp://c:4317"}, "want an http:// or https:// URL"},
	} {
		_, _, err := runCLI(t, tc.env, append([]string{"--port", "80", "--service-name", "s"}, tc.args...)...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("env %v args %v: %v, want %q", tc.env, tc.args, err, tc.want)
		}
	}
}

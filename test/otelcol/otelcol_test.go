// Package otelcol tests the OTLP export against the OpenTelemetry
// Collector's own OTLP receiver (go.opentelemetry.io/collector/receiver/
// otlpreceiver), over HTTP and gRPC. It is a module of its own so that the
// collector's dependencies stay out of xray-capture's go.mod; run it with
// `cd test/otelcol && go test ./...` (make test-otelcol).
package otelcol

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/receiver/otlpreceiver"
	"go.opentelemetry.io/collector/receiver/receivertest"
)

// segmentDoc is the part of a daemon datagram's segment the test reads.
type segmentDoc struct {
	Name      string  `json:"name"`
	ID        string  `json:"id"`
	TraceID   string  `json:"trace_id"`
	ParentID  string  `json:"parent_id"`
	StartTime float64 `json:"start_time"`
	EndTime   float64 `json:"end_time"`
	Fault     bool    `json:"fault"`
	HTTP      struct {
		Request struct {
			Method    string `json:"method"`
			URL       string `json:"url"`
			UserAgent string `json:"user_agent"`
			ClientIP  string `json:"client_ip"`
		} `json:"request"`
		Response *struct {
			Status        int    `json:"status"`
			ContentLength *int64 `json:"content_length"`
		} `json:"response"`
	} `json:"http"`
}

var binary string // xray-capture, built once

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "otelcol")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "xray-capture")
	// Built in the main module, with its own go.mod: the binary shipped.
	build := exec.Command("go", "build", "-o", binary, "./cmd/xray-capture")
	build.Dir = filepath.Join("..", "..")
	out, err := build.CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "go build: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startCollector starts the collector's OTLP receiver with both protocols
// on loopback, into a sink.
func startCollector(t *testing.T) (grpcAddr, httpAddr string, sink *consumertest.TracesSink) {
	f := otlpreceiver.NewFactory()
	cfg := f.CreateDefaultConfig().(*otlpreceiver.Config)
	grpcAddr, httpAddr = freeAddr(t), freeAddr(t)
	cfg.Protocols.GRPC.GetOrInsertDefault().NetAddr.Endpoint = grpcAddr
	cfg.Protocols.HTTP.GetOrInsertDefault().ServerConfig.NetAddr.Endpoint = httpAddr
	sink = new(consumertest.TracesSink)
	r, err := f.CreateTraces(context.Background(), receivertest.NewNopSettings(f.Type()), cfg, sink)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(context.Background(), componenttest.NewNopHost()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Shutdown(context.Background()) })
	return grpcAddr, httpAddr, sink
}

// replay runs xray-capture on a capture, to a stand-in daemon (a UDP
// socket) and the endpoint, and returns the daemon's segments.
func replay(t *testing.T, capture, endpoint string, env ...string) []segmentDoc {
	udp, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	udp.(*net.UDPConn).SetReadBuffer(4 << 20)
	cmd := exec.Command(binary, "--read", filepath.Join("..", "..", "testdata", "captures", capture), "--port", "8080",
		"--service-name", "shop", "--id-seed", "1", "--daemon-address", udp.LocalAddr().String(),
		"--otlp-endpoint", endpoint, "--otlp-batch-delay", "50ms")
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "OTEL_") && !strings.HasPrefix(kv, "AWS_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
	}
	t.Logf("%s", stderr.String())
	var docs []segmentDoc
	buf := make([]byte, 65536)
	for {
		udp.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		n, _, err := udp.ReadFrom(buf)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return docs
		} else if err != nil {
			t.Fatal(err)
		}
		_, body, ok := bytes.Cut(buf[:n], []byte("\n"))
		if !ok {
			t.Fatalf("datagram without a header: %q", buf[:n])
		}
		var d segmentDoc
		if err := json.Unmarshal(body, &d); err != nil {
			t.Fatal(err)
		}
		docs = append(docs, d)
	}
}

type collected struct {
	res  pcommon.Map
	span ptrace.Span
}

func collect(sink *consumertest.TracesSink) map[string]collected {
	m := map[string]collected{}
	for _, td := range sink.AllTraces() {
		for i := range td.ResourceSpans().Len() {
			rs := td.ResourceSpans().At(i)
			for j := range rs.ScopeSpans().Len() {
				ss := rs.ScopeSpans().At(j)
				for k := range ss.Spans().Len() {
					sp := ss.Spans().At(k)
					id := sp.SpanID()
					m[hex.EncodeToString(id[:])] = collected{rs.Resource().Attributes(), sp}
				}
			}
		}
	}
	return m
}

// TestCollectorReceivesTheSegments: the collector's receiver, over HTTP
// and over gRPC, gets one span per segment of the same replay, each
// attribute what the segment says (docs/otlp.md, the span).
func TestCollectorReceivesTheSegments(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  []string
	}{
		{"http", nil},
		{"grpc", nil},
		{"grpc-uncompressed", []string{"OTEL_EXPORTER_OTLP_COMPRESSION=none"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			grpcAddr, httpAddr, sink := startCollector(t)
			endpoint := "http://" + httpAddr
			if strings.HasPrefix(tc.name, "grpc") {
				endpoint = "grpc://" + grpcAddr
			}
			docs := replay(t, "keepalive.pcap", endpoint, tc.env...)
			compare(t, docs, collect(sink))
		})
	}
}

func compare(t *testing.T, docs []segmentDoc, spans map[string]collected) {
	t.Helper()
	if len(docs) == 0 || len(spans) != len(docs) {
		t.Fatalf("%d spans for %d segments", len(spans), len(docs))
	}
	for _, d := range docs {
		c, ok := spans[d.ID]
		if !ok {
			t.Errorf("no span for segment %s", d.ID)
			continue
		}
		sp, a := c.span, c.span.Attributes()
		str := func(k string) string {
			v, _ := a.Get(k)
			return v.Str()
		}
		num := func(k string) int64 {
			v, _ := a.Get(k)
			return v.Int()
		}
		tid, pid := sp.TraceID(), sp.ParentSpanID()
		if got := hex.EncodeToString(tid[:]); "1-"+got[:8]+"-"+got[8:] != d.TraceID {
			t.Errorf("%s: trace %s, segment %s", d.ID, got, d.TraceID)
		}
		if got := hex.EncodeToString(pid[:]); d.ParentID != "" && got != d.ParentID || d.ParentID == "" && !pid.IsEmpty() {
			t.Errorf("%s: parent %q, segment %q", d.ID, got, d.ParentID)
		}
		if sp.Kind() != ptrace.SpanKindServer || sp.Name() != d.HTTP.Request.Method || str("http.request.method") != d.HTTP.Request.Method {
			t.Errorf("%s: kind %v name %q method %q, segment %q", d.ID, sp.Kind(), sp.Name(), str("http.request.method"), d.HTTP.Request.Method)
		}
		if math.Abs(float64(sp.StartTimestamp())/1e3-d.StartTime*1e6) > 1 || math.Abs(float64(sp.EndTimestamp())/1e3-d.EndTime*1e6) > 1 {
			t.Errorf("%s: times %d %d, segment %f %f", d.ID, sp.StartTimestamp(), sp.EndTimestamp(), d.StartTime, d.EndTime)
		}
		url := str("url.scheme") + "://" + str("server.address")
		if p := num("server.port"); p != 80 {
			url += fmt.Sprintf(":%d", p)
		}
		url += str("url.path")
		if url != d.HTTP.Request.URL {
			t.Errorf("%s: url %q, segment %q", d.ID, url, d.HTTP.Request.URL)
		}
		if str("client.address") != d.HTTP.Request.ClientIP || str("network.peer.address") != d.HTTP.Request.ClientIP || num("network.peer.port") == 0 {
			t.Errorf("%s: client %q peer %q:%d, segment %q", d.ID, str("client.address"), str("network.peer.address"), num("network.peer.port"), d.HTTP.Request.ClientIP)
		}
		if str("user_agent.original") != d.HTTP.Request.UserAgent {
			t.Errorf("%s: user agent %q, segment %q", d.ID, str("user_agent.original"), d.HTTP.Request.UserAgent)
		}
		if r := d.HTTP.Response; r != nil {
			if num("http.response.status_code") != int64(r.Status) {
				t.Errorf("%s: status %d, segment %d", d.ID, num("http.response.status_code"), r.Status)
			}
			if r.ContentLength != nil && num("http.response.body.size") != *r.ContentLength {
				t.Errorf("%s: body size %d, segment %d", d.ID, num("http.response.body.size"), *r.ContentLength)
			}
		}
		if isErr := sp.Status().Code() == ptrace.StatusCodeError; isErr != d.Fault {
			t.Errorf("%s: status %v, segment fault %v", d.ID, sp.Status().Code(), d.Fault)
		}
		if _, has := a.Get("error.type"); has != d.Fault {
			t.Errorf("%s: error.type %q, segment fault %v", d.ID, str("error.type"), d.Fault)
		}
		name, _ := c.res.Get("service.name")
		lang, _ := c.res.Get("telemetry.sdk.language")
		sdk, _ := c.res.Get("telemetry.sdk.name")
		if name.Str() != d.Name || sdk.Str() != "xray-capture" || lang.Str() != "go" {
			t.Errorf("%s: resource %v, segment name %q", d.ID, c.res.AsRaw(), d.Name)
		}
	}
}

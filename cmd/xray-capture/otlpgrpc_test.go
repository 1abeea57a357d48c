package main

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/stats"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
)

// grpcTraceServer stands in for a collector's OTLP/gRPC receiver: the
// generated TraceServiceServer, decoding the requests into the same
// otlpReceiver as the HTTP one. answer, if set, picks the error of call
// number i (from 0); nil accepts it.
type grpcTraceServer struct {
	coltracepb.UnimplementedTraceServiceServer
	r      *otlpReceiver
	answer func(i int) error

	mu    sync.Mutex
	times []time.Time
	md    []metadata.MD
	enc   []string // grpc-encoding of each call
}

func startGRPCReceiver(t *testing.T, answer func(int) error) (*otlpReceiver, *grpcTraceServer) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &otlpReceiver{t: t, url: "grpc://" + ln.Addr().String()}
	s := &grpcTraceServer{r: r, answer: answer}
	srv := grpc.NewServer(grpc.StatsHandler(s))
	coltracepb.RegisterTraceServiceServer(srv, s)
	go srv.Serve(ln)
	t.Cleanup(srv.Stop)
	return r, s
}

func (s *grpcTraceServer) Export(ctx context.Context, req *coltracepb.ExportTraceServiceRequest) (*coltracepb.ExportTraceServiceResponse, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	s.r.mu.Lock()
	i := s.r.requests
	s.r.requests++
	s.r.mu.Unlock()
	s.mu.Lock()
	s.times = append(s.times, time.Now())
	s.md = append(s.md, md)
	s.mu.Unlock()
	if s.answer != nil {
		if err := s.answer(i); err != nil {
			return nil, err
		}
	}
	s.r.record(req)
	return &coltracepb.ExportTraceServiceResponse{}, nil
}

// The stats handler sees the call's headers, grpc-encoding among them,
// which the server keeps out of the metadata.
func (s *grpcTraceServer) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context {
	return ctx
}
func (s *grpcTraceServer) HandleRPC(_ context.Context, st stats.RPCStats) {
	if h, ok := st.(*stats.InHeader); ok {
		s.mu.Lock()
		s.enc = append(s.enc, h.Compression)
		s.mu.Unlock()
	}
}
func (s *grpcTraceServer) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context {
	return ctx
}
func (s *grpcTraceServer) HandleConn(context.Context, stats.ConnStats) {}

// TestOTLPGRPCSpansMatchSegments: over gRPC, gzip-compressed, with the
// headers variable as metadata, the same spans as over HTTP.
func TestOTLPGRPCSpansMatchSegments(t *testing.T) {
	recv, srv := startGRPCReceiver(t, nil)
	docs, stderr := replayBoth(t, "keepalive.pcap", recv, map[string]string{
		"OTEL_RESOURCE_ATTRIBUTES":   "deployment.environment.name=test",
		"OTEL_EXPORTER_OTLP_HEADERS": "X-Tenant=t1"})
	checkSpansMatchSegments(t, docs, recv.received(), stderr)
	srv.mu.Lock()
	defer srv.mu.Unlock()
	for i, md := range srv.md {
		if got := md.Get("x-tenant"); len(got) != 1 || got[0] != "t1" {
			t.Errorf("call %d: x-tenant %v", i, got)
		}
		if ua := strings.Join(md.Get("user-agent"), " "); !strings.HasPrefix(ua, "xray-capture/") {
			t.Errorf("call %d: user-agent %q", i, ua)
		}
	}
	if len(srv.enc) == 0 {
		t.Error("no call seen")
	}
	for i, e := range srv.enc {
		if e != "gzip" {
			t.Errorf("call %d: grpc-encoding %q, want gzip", i, e)
		}
	}
}

// TestOTLPGRPCProtocolVariable: OTEL_EXPORTER_OTLP_PROTOCOL=grpc with the
// endpoint variable as http://, and compression off.
func TestOTLPGRPCProtocolVariable(t *testing.T) {
	recv, srv := startGRPCReceiver(t, nil)
	docs, stderr := replayBoth(t, "keepalive.pcap", recv, map[string]string{
		"OTEL_EXPORTER_OTLP_PROTOCOL":    "grpc",
		"OTEL_EXPORTER_OTLP_ENDPOINT":    "http://" + strings.TrimPrefix(recv.url, "grpc://"),
		"OTEL_EXPORTER_OTLP_COMPRESSION": "none"})
	if got := len(recv.received()); len(docs) == 0 || got != len(docs) {
		t.Fatalf("%d spans for %d segments\n%s", got, len(docs), stderr)
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	for i, e := range srv.enc {
		if e != "" {
			t.Errorf("call %d: grpc-encoding %q, want none", i, e)
		}
	}
}

// TestOTLPGRPCRetries: the codes the specification calls retryable are
// retried, RESOURCE_EXHAUSTED only with RetryInfo (after its delay); the
// others lose the request's spans, counted, without a retry.
func TestOTLPGRPCRetries(t *testing.T) {
	withRetryInfo := func(d time.Duration) error {
		st, err := status.New(codes.ResourceExhausted, "slow down").WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(d)})
		if err != nil {
			t.Fatal(err)
		}
		return st.Err()
	}
	for _, tc := range []struct {
		name     string
		answer   func(i int) error
		calls    int
		minGap   time.Duration // between the first and second call
		rejected bool
	}{
		{"unavailable then ok", func(i int) error {
			if i == 0 {
				return status.Error(codes.Unavailable, "restarting")
			}
			return nil
		}, 2, 400 * time.Millisecond, false}, // backoff: 1 s with jitter on its upper half
		{"resource exhausted with RetryInfo", func(i int) error {
			if i == 0 {
				return withRetryInfo(1500 * time.Millisecond)
			}
			return nil
		}, 2, 1400 * time.Millisecond, false},
		{"resource exhausted without RetryInfo", func(int) error { return status.Error(codes.ResourceExhausted, "too large") }, 1, 0, true},
		{"invalid argument", func(int) error { return status.Error(codes.InvalidArgument, "bad span") }, 1, 0, true},
		{"unauthenticated", func(int) error { return status.Error(codes.Unauthenticated, "who") }, 1, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			recv, srv := startGRPCReceiver(t, tc.answer)
			docs, stderr := replayBoth(t, "keepalive.pcap", recv, nil)
			srv.mu.Lock()
			times := append([]time.Time(nil), srv.times...)
			srv.mu.Unlock()
			if len(times) != tc.calls {
				t.Fatalf("%d calls, want %d\n%s", len(times), tc.calls, stderr)
			}
			if tc.calls > 1 && times[1].Sub(times[0]) < tc.minGap {
				t.Errorf("retried after %v, want at least %v", times[1].Sub(times[0]), tc.minGap)
			}
			if tc.rejected {
				if !strings.Contains(stderr, fmt.Sprintf("otlp_dropped_rejected=%d", len(docs))) || !strings.Contains(stderr, "otlp_sent=0") {
					t.Errorf("summary:\n%s", stderr)
				}
				return
			}
			if got := len(recv.received()); got != len(docs) || strings.Contains(stderr, "otlp_dropped") ||
				!strings.Contains(stderr, fmt.Sprintf("otlp_sent=%d", len(docs))) {
				t.Errorf("%d spans for %d segments; summary:\n%s", got, len(docs), stderr)
			}
		})
	}
}

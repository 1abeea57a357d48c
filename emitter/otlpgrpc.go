package emitter

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/xray-capture/xray-capture/xray"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/encoding/gzip" // registers the gzip compressor
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// otlpExportMethod is the OTLP trace service's one method.
const otlpExportMethod = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"

// otlpGRPC sends the requests the exporter encodes over OTLP/gRPC: the
// request's bytes go out as they are (rawCodec), so that the spans are
// encoded once, by hand, for both transports.
type otlpGRPC struct {
	conn *grpc.ClientConn
	md   metadata.MD
	call []grpc.CallOption
}

// newOTLPGRPC makes the channel; it connects on the first request, and
// reconnects by itself when the receiver comes back.
func newOTLPGRPC(cfg OTLPConfig) (*otlpGRPC, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("otlp: %w", err)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("otlp: %q: no host:port", cfg.URL)
	}
	creds := insecure.NewCredentials()
	if u.Scheme == "https" {
		creds = credentials.NewTLS(&tls.Config{MinVersion: tls.VersionTLS12})
	}
	// The channel's own reconnection backoff is capped well below gRPC's
	// 120 s default, so that a receiver that restarts is found again
	// while the exporter still retries the request.
	bo := backoff.DefaultConfig
	bo.BaseDelay = min(cfg.RetryInitial, bo.BaseDelay)
	bo.MaxDelay = min(cfg.RetryMax, 5*time.Second)
	conn, err := grpc.NewClient(u.Host,
		grpc.WithTransportCredentials(creds),
		grpc.WithUserAgent(xray.SDKName+"/"+cfg.SDKVersion),
		grpc.WithConnectParams(grpc.ConnectParams{Backoff: bo, MinConnectTimeout: cfg.Timeout}))
	if err != nil {
		return nil, fmt.Errorf("otlp: %w", err)
	}
	g := &otlpGRPC{conn: conn, md: metadata.MD{}, call: []grpc.CallOption{grpc.ForceCodec(rawCodec{})}}
	for k, v := range cfg.Headers {
		g.md[strings.ToLower(k)] = v // gRPC metadata keys are lower case
	}
	if !cfg.NoGzip {
		g.call = append(g.call, grpc.UseCompressor(gzip.Name))
	}
	return g, nil
}

// export makes one call; rejected is the partial success's count. A code
// that must not be retried is a permanentError; retryAfter is RetryInfo's.
func (g *otlpGRPC) export(stop context.Context, body []byte, cfg OTLPConfig) (rejected int, retryAfter time.Duration, err error) {
	ctx, cancel := context.WithTimeout(stop, cfg.Timeout)
	defer cancel()
	if len(g.md) > 0 {
		ctx = metadata.NewOutgoingContext(ctx, g.md)
	}
	if cfg.NoGzip {
		// Uncompressed, gRPC frames the caller's bytes themselves, and a
		// call that fails may leave them queued on the connection while
		// the sender reuses its buffer.
		body = bytes.Clone(body)
	}
	var resp []byte
	err = g.conn.Invoke(ctx, otlpExportMethod, body, &resp, g.call...)
	if err == nil {
		return partialRejected(resp), 0, nil
	}
	st := status.Convert(err)
	var retry time.Duration
	for _, d := range st.Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok && ri.RetryDelay != nil {
			retry = max(ri.RetryDelay.AsDuration(), time.Millisecond)
		}
	}
	err = fmt.Errorf("otlp: %s answered %s: %s", cfg.URL, st.Code(), st.Message())
	if !grpcRetryable(st.Code(), retry > 0) {
		return 0, 0, permanentError{err}
	}
	return 0, retry, err
}

// grpcRetryable: the codes the OTLP specification calls retryable;
// RESOURCE_EXHAUSTED only when the receiver said when to come back
// (RetryInfo), since otherwise it may never recover (a request too large).
func grpcRetryable(c codes.Code, retryInfo bool) bool {
	switch c {
	case codes.Canceled, codes.DeadlineExceeded, codes.Aborted, codes.OutOfRange, codes.Unavailable, codes.DataLoss:
		return true
	case codes.ResourceExhausted:
		return retryInfo
	}
	return false
}

func (g *otlpGRPC) close() error { return g.conn.Close() }

// rawCodec passes encoded protobuf messages through: Marshal takes the
// request's bytes, Unmarshal copies the answer's into a *[]byte. Its name
// makes the content type application/grpc+proto, which every receiver
// reads.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) {
	b, ok := v.([]byte)
	if !ok {
		return nil, errors.New("rawCodec: want []byte")
	}
	return b, nil
}

func (rawCodec) Unmarshal(data []byte, v any) error {
	p, ok := v.(*[]byte)
	if !ok {
		return errors.New("rawCodec: want *[]byte")
	}
	*p = append((*p)[:0], data...)
	return nil
}

func (rawCodec) Name() string { return "proto" }

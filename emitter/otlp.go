package emitter

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/xray-capture/xray-capture/xray"
)

// The defaults of OTLPConfig's batching, which the command's flags show.
const (
	DefaultOTLPBatchSize  = 512
	DefaultOTLPBatchDelay = time.Second
	DefaultOTLPQueueSpans = 2048
)

// OTLPConfig says where and how spans go. Zero values take the defaults
// of the OpenTelemetry batch span processor and OTLP exporter where these
// have one.
type OTLPConfig struct {
	// URL is the traces endpoint, used as is (…/v1/traces). With GRPC,
	// its host:port is the target, over TLS if the scheme is https and in
	// plain text otherwise (http, grpc), and its path is not used.
	URL     string
	GRPC    bool // OTLP/gRPC rather than OTLP/HTTP
	Headers http.Header
	// Resource holds the attributes every span's resource has besides
	// service.name, which is the segment's name: one ResourceSpans per name.
	Resource []Attribute
	// SDKVersion is the scope's version.
	SDKVersion string

	BatchSize  int           // spans per request; DefaultOTLPBatchSize
	Delay      time.Duration // the longest a span waits for its batch; 1 s
	QueueSpans int           // spans waiting to be sent, at most; DefaultOTLPQueueSpans
	NoGzip     bool
	Timeout    time.Duration // one request; 10 s
	// Retries of a retryable answer (429, 502, 503, 504, or no answer)
	// back off from RetryInitial (1 s) doubling to RetryMax (30 s), for
	// RetryElapsed (60 s) at most, unless Retry-After says otherwise.
	RetryInitial, RetryMax, RetryElapsed time.Duration
	// ShutdownTimeout bounds Close: what is not sent by then is dropped
	// and counted (reason shutdown); 5 s.
	ShutdownTimeout time.Duration
	// Sign, if set, signs each HTTP request, given the body it carries
	// (SigV4 for AWS X-Ray's OTLP endpoint); an error fails the attempt,
	// which is retried.
	Sign func(req *http.Request, body []byte) error
}

// Attribute is a resource attribute with a string value.
type Attribute struct{ Key, Value string }

// OTLP drop reasons, the label of otlp_spans_dropped_total.
const (
	OTLPDropQueueFull    = iota // the queue was full: the collector is slower than the traffic
	OTLPDropRejected            // refused by the receiver (a non-retryable answer, or partial success)
	OTLPDropExportFailed        // retries ran out (no answer, or retryable answers for RetryElapsed)
	OTLPDropShutdown            // still waiting when Close's time ran out
	otlpDropReasons
)

// OTLPDropReasons names the reasons, by their constants.
var OTLPDropReasons = [otlpDropReasons]string{"queue_full", "rejected", "export_failed", "shutdown"}

// OTLP exports spans over OTLP/HTTP with protobuf (docs/otlp.md). Each
// pipeline goroutine has its own OTLPSink, which encodes spans into a
// batch and hands full batches to the exporter's queue without waiting;
// one goroutine of the exporter's own gathers them into requests, sends,
// and retries. When the queue is full the batch is dropped and counted:
// capture never waits for the collector.
type OTLP struct {
	cfg    OTLPConfig
	client *http.Client
	grpc   *otlpGRPC // nil over HTTP

	queue   chan *otlpBatch
	free    chan *otlpBatch
	batches atomic.Int32 // made so far, at most cap(free)
	done    chan struct{}
	stop    context.Context // cancelled when Close's time runs out
	cancel  context.CancelFunc

	sent    atomic.Uint64
	dropped [otlpDropReasons]atomic.Uint64
	mu      sync.Mutex
	lastErr error

	// The sender's own, reused request by request.
	pending otlpBatch
	// backlog holds, in order, the spans taken off the queue while a
	// request waited to be retried, up to QueueSpans: the queue's batches
	// are often small (the live pump flushes every ring block), so a
	// bound counted in batches would hold far fewer spans than asked.
	backlog     otlpBatch
	queueClosed bool
	order       []int
	body        []byte
	gz          bytes.Buffer
	gzw         *gzip.Writer
	scope       []byte // the InstrumentationScope field of ScopeSpans, encoded
	res         []byte // the Resource attributes besides service.name, encoded
	resEKS      []byte // ... for a Kubernetes pod's spans: cloud.platform aws_eks
	k8s         []byte // a pod's attributes, encoded (scratch)
}

// otlpBatch is spans back to back in buf, each after its service name.
type otlpBatch struct {
	buf   []byte
	spans []otlpSpanRef
}

// otlpSpanRef locates a span in a batch: its group key at nameOff (the
// service name, then resLen bytes of the server's facts, Segment.Resource,
// so that spans of one pod share a resource), the span at off.
type otlpSpanRef struct{ nameOff, nameLen, resLen, off, n int32 }

// Per-goroutine batches: handed over at 64 spans or 64 KiB. A span is a
// few hundred bytes (the URL, user agent and tracestate are bounded, to
// 2 KiB, 2 KiB and 512 bytes), so the buffer's headroom keeps appends from
// growing it.
const (
	otlpBatchSpans = 64
	otlpBatchBytes = 64 << 10
	otlpBatchCap   = otlpBatchBytes + 16<<10
)

// NewOTLP starts the exporter's goroutine; workers is the number of
// OTLPSinks that will feed it.
func NewOTLP(cfg OTLPConfig, workers int) (*OTLP, error) {
	x, err := newOTLP(cfg, workers)
	if err != nil {
		return nil, err
	}
	go x.run()
	return x, nil
}

// newOTLP is NewOTLP without the goroutine.
func newOTLP(cfg OTLPConfig, workers int) (*OTLP, error) {
	if cfg.URL == "" {
		return nil, errors.New("otlp: no endpoint")
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&cfg.Delay, DefaultOTLPBatchDelay)
	def(&cfg.Timeout, 10*time.Second)
	def(&cfg.RetryInitial, time.Second)
	def(&cfg.RetryMax, 30*time.Second)
	def(&cfg.RetryElapsed, time.Minute)
	def(&cfg.ShutdownTimeout, 5*time.Second)
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = DefaultOTLPBatchSize
	}
	if cfg.QueueSpans <= 0 {
		cfg.QueueSpans = DefaultOTLPQueueSpans
	}
	cfg.QueueSpans = max(cfg.QueueSpans, otlpBatchSpans)
	// The queue holds QueueSpans in full batches; the pool has one more
	// batch per sink and one for the sender.
	qlen := cfg.QueueSpans / otlpBatchSpans
	var err error
	x := &OTLP{cfg: cfg, client: &http.Client{Timeout: cfg.Timeout},
		queue: make(chan *otlpBatch, qlen), free: make(chan *otlpBatch, qlen+workers+1),
		done: make(chan struct{})}
	if cfg.GRPC {
		if x.grpc, err = newOTLPGRPC(cfg); err != nil {
			return nil, err
		}
	}
	x.stop, x.cancel = context.WithCancel(context.Background())
	x.gzw, _ = gzip.NewWriterLevel(&x.gz, gzip.BestSpeed)
	x.scope = appendScope(nil, cfg.SDKVersion)
	for _, a := range cfg.Resource {
		x.res = appendKVBytesField(x.res, 1, a.Key, []byte(a.Value))
		if a.Key != "cloud.platform" {
			x.resEKS = appendKVBytesField(x.resEKS, 1, a.Key, []byte(a.Value))
		}
	}
	x.resEKS = appendKVBytesField(x.resEKS, 1, "cloud.platform", []byte("aws_eks"))
	return x, nil
}

func appendScope(b []byte, version string) []byte {
	n := protowire.SizeTag(1) + protowire.SizeBytes(len(xray.SDKName)) + protowire.SizeTag(2) + protowire.SizeBytes(len(version))
	b = protowire.AppendTag(b, 1, protowire.BytesType) // ScopeSpans.scope
	b = protowire.AppendVarint(b, uint64(n))
	b = protowire.AppendTag(b, 1, protowire.BytesType)
	b = protowire.AppendString(b, xray.SDKName)
	b = protowire.AppendTag(b, 2, protowire.BytesType)
	return protowire.AppendString(b, version)
}

// Sent is the spans the receiver accepted.
func (x *OTLP) Sent() uint64 { return x.sent.Load() }

// Dropped is the spans lost, by reason (OTLPDropReasons).
func (x *OTLP) Dropped() (d [otlpDropReasons]uint64) {
	for i := range d {
		d[i] = x.dropped[i].Load()
	}
	return d
}

// LastError is the last failure to send, or nil.
func (x *OTLP) LastError() error {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.lastErr
}

func (x *OTLP) fail(err error) {
	x.mu.Lock()
	x.lastErr = err
	x.mu.Unlock()
}

// getBatch takes an empty batch, or makes one while fewer than the pool
// holds exist; nil when all are in use (the queue is full).
func (x *OTLP) getBatch() *otlpBatch {
	select {
	case b := <-x.free:
		return b
	default:
	}
	if int(x.batches.Add(1)) <= cap(x.free) {
		return &otlpBatch{buf: make([]byte, 0, otlpBatchCap), spans: make([]otlpSpanRef, 0, otlpBatchSpans)}
	}
	x.batches.Add(-1)
	return nil
}

func (x *OTLP) putBatch(b *otlpBatch) {
	b.buf, b.spans = b.buf[:0], b.spans[:0]
	select {
	case x.free <- b:
	default: // cannot happen: the pool holds every batch made
	}
}

// hand queues a batch without waiting; a full queue drops it.
func (x *OTLP) hand(b *otlpBatch) {
	select {
	case x.queue <- b:
	default:
		x.dropped[OTLPDropQueueFull].Add(uint64(len(b.spans)))
		x.putBatch(b)
	}
}

// OTLPSink encodes one pipeline goroutine's segments into spans; it is not
// safe for concurrent use.
type OTLPSink struct {
	x   *OTLP
	cur *otlpBatch
	enc spanEncoder
}

// Sink returns a new goroutine's sink into x.
func (x *OTLP) Sink() *OTLPSink { return &OTLPSink{x: x} }

// Emit encodes s as a span into the batch, and hands the batch over when it
// is full. It keeps nothing of s.
func (o *OTLPSink) Emit(s *xray.Segment) {
	if o.cur == nil {
		if o.cur = o.x.getBatch(); o.cur == nil {
			o.x.dropped[OTLPDropQueueFull].Add(1)
			return
		}
	}
	b := o.cur
	nameOff := len(b.buf)
	b.buf = append(b.buf, s.Name...)
	b.buf = append(b.buf, s.Resource...)
	off := len(b.buf)
	b.buf = o.enc.appendSpan(b.buf, s)
	b.spans = append(b.spans, otlpSpanRef{int32(nameOff), int32(len(s.Name)), int32(len(s.Resource)), int32(off), int32(len(b.buf) - off)})
	if len(b.spans) == otlpBatchSpans || len(b.buf) >= otlpBatchBytes {
		o.Flush()
	}
}

// Flush hands over the spans batched; the exporter's goroutine gathers
// them into requests (BatchSize, Delay), so calling it often is cheap.
func (o *OTLPSink) Flush() {
	if o.cur == nil || len(o.cur.spans) == 0 {
		return
	}
	o.x.hand(o.cur)
	o.cur = nil
}

// Close sends what the sinks handed over (Flush them first), waiting up to
// ShutdownTimeout, and stops the goroutine. What could not be sent is in
// Dropped, and the reason in LastError: a collector that is down is not
// an error of the capture.
func (x *OTLP) Close() error {
	close(x.queue)
	t := time.AfterFunc(x.cfg.ShutdownTimeout, x.cancel)
	<-x.done
	t.Stop()
	x.cancel()
	if x.grpc != nil {
		x.grpc.close()
	}
	return nil
}

// run gathers batches into requests of BatchSize spans, or what came
// within Delay, and sends them. While a request is retried, batches wait
// in the queue, and beyond it are dropped.
func (x *OTLP) run() {
	defer close(x.done)
	timer := time.NewTimer(x.cfg.Delay)
	defer timer.Stop()
	x.pending.buf = make([]byte, 0, otlpBatchCap)
	for {
		if len(x.backlog.spans) > 0 {
			// Older than anything in the queue: first.
			x.takeBacklog()
			if len(x.pending.spans) >= x.cfg.BatchSize || len(x.backlog.spans) > 0 {
				x.export()
				timer.Reset(x.cfg.Delay)
				continue
			}
		}
		if x.queueClosed {
			x.export()
			return
		}
		select {
		case b, ok := <-x.queue:
			if !ok {
				x.queueClosed = true
				continue
			}
			x.take(b)
			if len(x.pending.spans) >= x.cfg.BatchSize {
				x.export()
				timer.Reset(x.cfg.Delay)
			}
		case <-timer.C:
			x.export()
			timer.Reset(x.cfg.Delay)
		}
	}
}

// take moves a batch's spans into the pending request.
func (x *OTLP) take(b *otlpBatch) {
	appendFirst(&x.pending, b, len(b.spans))
	x.putBatch(b)
}

// appendFirst appends src's first k spans, with the bytes they and their
// names lie in, to dst, and returns where those bytes end in src. A
// batch's spans lie in order, each after its name, from 0.
func appendFirst(dst, src *otlpBatch, k int) int32 {
	if k == 0 {
		return 0
	}
	last := src.spans[k-1]
	end := last.off + last.n
	base := int32(len(dst.buf))
	dst.buf = append(dst.buf, src.buf[:end]...)
	for _, r := range src.spans[:k] {
		r.nameOff += base
		r.off += base
		dst.spans = append(dst.spans, r)
	}
	return end
}

// stash moves a batch's spans into the backlog, as many as QueueSpans
// allows; the rest are dropped and counted.
func (x *OTLP) stash(b *otlpBatch) {
	keep := min(max(0, x.cfg.QueueSpans-len(x.backlog.spans)), len(b.spans))
	if keep < len(b.spans) {
		x.dropped[OTLPDropQueueFull].Add(uint64(len(b.spans) - keep))
	}
	appendFirst(&x.backlog, b, keep)
	x.putBatch(b)
}

// takeBacklog moves the oldest backlog spans into the pending request, up
// to BatchSize.
func (x *OTLP) takeBacklog() {
	k := min(x.cfg.BatchSize-len(x.pending.spans), len(x.backlog.spans))
	if k <= 0 {
		return
	}
	end := appendFirst(&x.pending, &x.backlog, k)
	n := copy(x.backlog.buf, x.backlog.buf[end:])
	x.backlog.buf = x.backlog.buf[:n]
	rest := copy(x.backlog.spans, x.backlog.spans[k:])
	x.backlog.spans = x.backlog.spans[:rest]
	for i := range x.backlog.spans {
		x.backlog.spans[i].nameOff -= end
		x.backlog.spans[i].off -= end
	}
}

// export sends the pending spans as one request.
func (x *OTLP) export() {
	p := &x.pending
	n := len(p.spans)
	if n == 0 {
		return
	}
	defer func() { p.buf, p.spans = p.buf[:0], p.spans[:0] }()
	if x.stop.Err() != nil {
		x.dropped[OTLPDropShutdown].Add(uint64(n))
		return
	}
	x.body = x.encodeRequest(x.body[:0])
	body := x.body
	encoding := ""
	// Over gRPC, the library compresses the message (UseCompressor).
	if !x.cfg.NoGzip && x.grpc == nil {
		x.gz.Reset()
		x.gzw.Reset(&x.gz)
		x.gzw.Write(body)
		x.gzw.Close()
		body, encoding = x.gz.Bytes(), "gzip"
	}
	x.send(body, encoding, n)
}

// encodeRequest appends the ExportTraceServiceRequest of the pending
// spans: one ResourceSpans per service name, in order of the names.
func (x *OTLP) encodeRequest(b []byte) []byte {
	p := &x.pending
	// The key: the name and the server's facts. X-Ray names hold no '"',
	// with which the facts begin, so the split is never ambiguous.
	name := func(r otlpSpanRef) []byte { return p.buf[r.nameOff : r.nameOff+r.nameLen+r.resLen] }
	x.order = x.order[:0]
	for i := range p.spans {
		x.order = append(x.order, i)
	}
	slices.SortStableFunc(x.order, func(i, j int) int { return bytes.Compare(name(p.spans[i]), name(p.spans[j])) })
	for start := 0; start < len(x.order); {
		first := name(p.spans[x.order[start]])
		end := start + 1
		for end < len(x.order) && bytes.Equal(name(p.spans[x.order[end]]), first) {
			end++
		}
		// Resource: service.name, then the fixed attributes, or for a
		// Kubernetes pod's spans those of EKS and the pod's.
		r0 := p.spans[x.order[start]]
		svc, facts := first[:r0.nameLen], first[r0.nameLen:]
		fixed := x.res
		if x.k8s = appendK8sAttributes(x.k8s[:0], facts); len(x.k8s) > 0 {
			fixed = x.resEKS
		}
		svcAny := protowire.SizeTag(anyString) + protowire.SizeBytes(len(svc))
		svcKV := protowire.SizeTag(kvKey) + protowire.SizeBytes(len("service.name")) + protowire.SizeTag(kvValue) + protowire.SizeBytes(svcAny)
		resLen := protowire.SizeTag(1) + protowire.SizeBytes(svcKV) + len(fixed) + len(x.k8s)
		scopeSpansLen := len(x.scope)
		for _, i := range x.order[start:end] {
			scopeSpansLen += protowire.SizeTag(2) + protowire.SizeBytes(int(p.spans[i].n))
		}
		rsLen := protowire.SizeTag(1) + protowire.SizeBytes(resLen) + protowire.SizeTag(2) + protowire.SizeBytes(scopeSpansLen)

		b = protowire.AppendTag(b, 1, protowire.BytesType) // resource_spans
		b = protowire.AppendVarint(b, uint64(rsLen))
		b = protowire.AppendTag(b, 1, protowire.BytesType) // resource
		b = protowire.AppendVarint(b, uint64(resLen))
		b = appendKVBytesField(b, 1, "service.name", svc)
		b = append(b, fixed...)
		b = append(b, x.k8s...)
		b = protowire.AppendTag(b, 2, protowire.BytesType) // scope_spans
		b = protowire.AppendVarint(b, uint64(scopeSpansLen))
		b = append(b, x.scope...)
		for _, i := range x.order[start:end] {
			r := p.spans[i]
			b = protowire.AppendTag(b, 2, protowire.BytesType) // spans
			b = protowire.AppendBytes(b, p.buf[r.off:r.off+r.n])
		}
		start = end
	}
	return b
}

// k8sAttributes map the members of a segment's aws.eks (Segment.Resource,
// as kube encodes it) to the OpenTelemetry resource attributes the
// awsxray exporter turns back into aws.eks.
var k8sAttributes = [...][2]string{
	{"cluster_name", "k8s.cluster.name"}, {"pod", "k8s.pod.name"},
	{"namespace", "k8s.namespace.name"}, {"container_id", "container.id"},
}

// appendK8sAttributes appends, as Resource attributes, the pod's facts in
// facts (`"eks":{"cluster_name":"...",...}`); nothing for other facts. A
// value with a JSON escape is left out: Kubernetes names have none.
func appendK8sAttributes(b, facts []byte) []byte {
	if !bytes.HasPrefix(facts, []byte(`"eks":{`)) {
		return b
	}
	for _, kv := range k8sAttributes {
		if v, ok := jsonMember(facts, kv[0]); ok {
			b = appendKVBytesField(b, 1, kv[1], v)
		}
	}
	return b
}

// jsonMember finds "key":"value" in b and returns value, if it has no escape.
func jsonMember(b []byte, key string) ([]byte, bool) {
	needle := []byte(`"` + key + `":"`)
	for i := 0; i < len(b); {
		j := bytes.Index(b[i:], needle)
		if j < 0 {
			return nil, false
		}
		// A member's key follows '{' or ','.
		at := i + j
		v := b[at+len(key)+4:]
		if at > 0 && b[at-1] != '{' && b[at-1] != ',' {
			i = at + 1
			continue
		}
		end := bytes.IndexByte(v, '"')
		if end < 0 || bytes.IndexByte(v[:end], '\\') >= 0 {
			return nil, false
		}
		return v[:end], true
	}
	return nil, false
}

// send makes the request, retrying as the OTLP specification says: over
// HTTP on 429, 502, 503 and 504, over gRPC on the codes grpcRetryable
// names, and when no answer came; with exponential backoff and jitter,
// or after the time the answer gives (Retry-After, RetryInfo).
func (x *OTLP) send(body []byte, encoding string, n int) {
	deadline := time.Now().Add(x.cfg.RetryElapsed)
	backoff := x.cfg.RetryInitial
	for {
		var rejected int
		var retryAfter time.Duration
		var err error
		if x.grpc != nil {
			rejected, retryAfter, err = x.grpc.export(x.stop, body, x.cfg)
		} else {
			rejected, retryAfter, err = x.post(body, encoding)
		}
		if err == nil {
			x.sent.Add(uint64(n - rejected))
			if rejected > 0 {
				x.dropped[OTLPDropRejected].Add(uint64(rejected))
			}
			return
		}
		x.fail(err)
		if errors.As(err, new(permanentError)) {
			x.dropped[OTLPDropRejected].Add(uint64(n))
			return
		}
		wait := retryAfter
		if wait <= 0 {
			// Full jitter on the upper half: spread, never much shorter.
			wait = backoff/2 + rand.N(backoff/2+1)
			backoff = min(2*backoff, x.cfg.RetryMax)
		}
		if time.Now().Add(wait).After(deadline) {
			x.dropped[OTLPDropExportFailed].Add(uint64(n))
			return
		}
		if !x.await(wait) {
			x.dropped[OTLPDropShutdown].Add(uint64(n))
			return
		}
	}
}

// await waits d before a retry, meanwhile taking what the sinks hand over
// into the backlog, so that the queue's bound holds in spans; false when
// Close's time ran out.
func (x *OTLP) await(d time.Duration) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		q := x.queue
		if x.queueClosed {
			q = nil
		}
		select {
		case <-timer.C:
			return true
		case b, ok := <-q:
			if !ok {
				x.queueClosed = true
				continue
			}
			x.stash(b)
		case <-x.stop.Done():
			return false
		}
	}
}

// permanentError is an answer that must not be retried: the request's
// spans are rejected.
type permanentError struct{ error }

func (e permanentError) Unwrap() error { return e.error }

func retryable(status int) bool {
	return status == 429 || status == 502 || status == 503 || status == 504
}

// post makes one HTTP request; rejected is the partial success's count.
// A non-2xx answer is an error, a permanentError unless retryable.
func (x *OTLP) post(body []byte, encoding string) (rejected int, retryAfter time.Duration, err error) {
	ctx, cancel := context.WithTimeout(x.stop, x.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, x.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return 0, 0, err
	}
	for k, v := range x.cfg.Headers {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/x-protobuf")
	req.Header.Set("User-Agent", xray.SDKName+"/"+x.cfg.SDKVersion)
	if encoding != "" {
		req.Header.Set("Content-Encoding", encoding)
	}
	if x.cfg.Sign != nil {
		if err := x.cfg.Sign(req, body); err != nil {
			return 0, 0, err
		}
	}
	resp, err := x.client.Do(req)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	// The answer is small; a bound keeps a broken receiver from costing memory.
	rb, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	switch {
	case resp.StatusCode/100 == 2:
		return partialRejected(rb), 0, nil
	case retryable(resp.StatusCode):
		return 0, parseRetryAfter(resp.Header.Get("Retry-After")), fmt.Errorf("otlp: %s answered %d", x.cfg.URL, resp.StatusCode)
	}
	return 0, 0, permanentError{fmt.Errorf("otlp: %s answered %d", x.cfg.URL, resp.StatusCode)}
}

// parseRetryAfter reads seconds or an HTTP date; 0 if absent or bad.
func parseRetryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(0, time.Until(t))
	}
	return 0
}

// partialRejected reads ExportTraceServiceResponse.partial_success
// .rejected_spans; 0 when absent or unreadable.
func partialRejected(b []byte) int {
	ps, ok := protoField(b, 1, protowire.BytesType)
	if !ok {
		return 0
	}
	ps, _ = protowire.ConsumeBytes(ps)
	v, ok := protoField(ps, 1, protowire.VarintType)
	if !ok {
		return 0
	}
	n, _ := protowire.ConsumeVarint(v)
	return int(n)
}

// protoField returns the encoded value of the first field num of wire type
// typ in the message b; false when there is none or b is malformed.
func protoField(b []byte, num protowire.Number, typ protowire.Type) ([]byte, bool) {
	for len(b) > 0 {
		n, t, k := protowire.ConsumeTag(b)
		if k < 0 {
			return nil, false
		}
		b = b[k:]
		m := protowire.ConsumeFieldValue(n, t, b)
		if m < 0 {
			return nil, false
		}
		if n == num && t == typ {
			return b[:m], true
		}
		b = b[m:]
	}
	return nil, false
}

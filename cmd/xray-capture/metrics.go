package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/xray-capture/xray-capture/capture"
	"github.com/xray-capture/xray-capture/segmenter"
)

// snapshot is a copy of every counter, taken by a capture goroutine
// (which owns them) and read by the metrics endpoint and the stats log:
// counters stay plain fields on the per-packet path.
type snapshot struct {
	stats                  segmenter.Stats
	sent, sendErrs, tooBig uint64
	lastSendErr            error
	daemon                 bool   // segments go to the daemon
	outWritten, outLost    uint64 // of --output, which the pipelines share
	lastOutErr             error
	kernel                 capture.KernelStats
	live                   bool // kernel holds a live socket's counters
	ready                  bool
}

// add sums o into s: the pipelines of --workers.
func (s *snapshot) add(o snapshot) {
	s.stats.Add(&o.stats)
	s.sent += o.sent
	s.sendErrs += o.sendErrs
	s.tooBig += o.tooBig
	if s.lastSendErr == nil {
		s.lastSendErr = o.lastSendErr
	}
	// Not the --output counts: every pipeline read the same file's.
	s.kernel.Packets += o.kernel.Packets
	s.kernel.Drops += o.kernel.Drops
	s.kernel.Freezes += o.kernel.Freezes
	s.ready = s.ready && o.ready
}

// statsBox holds the latest snapshot of each pipeline; readers get the sum.
type statsBox struct {
	mu    sync.Mutex
	parts []snapshot
}

func (b *statsBox) publish(worker int, s snapshot) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for len(b.parts) <= worker {
		b.parts = append(b.parts, snapshot{})
	}
	b.parts[worker] = s
}

func (b *statsBox) get() snapshot {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.parts) == 0 {
		return snapshot{}
	}
	sum := b.parts[0]
	for _, p := range b.parts[1:] {
		sum.add(p)
	}
	return sum
}

// kernelStats is a live source's counters.
type kernelStats interface {
	Stats() (capture.KernelStats, error)
}

// takeSnapshot copies the counters; it runs on the capture goroutine.
func takeSnapshot(t *segmenter.Tracker, sinks *sinkSet, src kernelStats, ready bool) snapshot {
	t.SyncStats()
	s := snapshot{stats: t.Stats, ready: ready}
	if u := sinks.udp; u != nil {
		s.daemon = true
		s.sent, s.sendErrs, s.tooBig, s.lastSendErr = u.Sent, u.SendErrors, u.TooLarge, u.LastError
	}
	if l := sinks.lines; l != nil {
		s.outWritten, s.outLost, s.lastOutErr = l.Counts()
	}
	if src != nil {
		s.live = true
		s.kernel, _ = src.Stats()
	}
	return s
}

// funnel is the Prometheus collector of the capture funnel: every counter
// and gauge of segmenter.Stats, as its table names them, and the kernel's,
// the sinks' and readiness, below.
type funnel struct {
	box   *statsBox
	descs map[string]*prometheus.Desc // by metric name, without the prefix
}

// snapshotMetrics are the funnel's values that are not the Tracker's.
var snapshotMetrics = []struct {
	name, help string
	kind       prometheus.ValueType
	value      func(*snapshot) uint64
}{
	{"kernel_drops_total", "Packets the kernel dropped because the ring was full.", prometheus.CounterValue,
		func(s *snapshot) uint64 { return s.kernel.Drops }},
	{"ring_freezes_total", "Times the kernel froze the ring queue.", prometheus.CounterValue,
		func(s *snapshot) uint64 { return s.kernel.Freezes }},
	{"segments_sent_total", "Segments sent to the daemon.", prometheus.CounterValue,
		func(s *snapshot) uint64 { return s.sent }},
	{"segment_send_errors_total", "Segments the daemon socket refused.", prometheus.CounterValue,
		func(s *snapshot) uint64 { return s.sendErrs }},
	{"segments_too_large_total", "Segments over 64,000 bytes, not sent.", prometheus.CounterValue,
		func(s *snapshot) uint64 { return s.tooBig }},
	{"output_segments_written_total", "Segments written to --output.", prometheus.CounterValue,
		func(s *snapshot) uint64 { return s.outWritten }},
	{"output_segments_lost_total", "Segments a failed write to --output lost.", prometheus.CounterValue,
		func(s *snapshot) uint64 { return s.outLost }},
	{"ready", "1 once capture runs.", prometheus.GaugeValue,
		func(s *snapshot) uint64 {
			if s.ready {
				return 1
			}
			return 0
		}},
}

func newFunnel(box *statsBox) *funnel {
	f := &funnel{box: box, descs: map[string]*prometheus.Desc{}}
	var none segmenter.Stats
	for _, c := range slices.Concat(none.Counters(), none.Gauges()) {
		if f.descs[c.Metric] == nil {
			f.descs[c.Metric] = prometheus.NewDesc("xray_capture_"+c.Metric, c.Help, c.LabelNames, nil)
		}
	}
	for _, m := range snapshotMetrics {
		f.descs[m.name] = prometheus.NewDesc("xray_capture_"+m.name, m.help, nil, nil)
	}
	return f
}

func (f *funnel) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range f.descs {
		ch <- d
	}
}

func (f *funnel) Collect(ch chan<- prometheus.Metric) {
	s := f.box.get()
	for _, c := range s.stats.Counters() {
		ch <- prometheus.MustNewConstMetric(f.descs[c.Metric], prometheus.CounterValue, float64(c.Value), c.LabelValues...)
	}
	for _, c := range s.stats.Gauges() {
		ch <- prometheus.MustNewConstMetric(f.descs[c.Metric], prometheus.GaugeValue, float64(c.Value), c.LabelValues...)
	}
	for _, m := range snapshotMetrics {
		ch <- prometheus.MustNewConstMetric(f.descs[m.name], m.kind, float64(m.value(&s)))
	}
}

// serveMetrics serves /metrics and /healthz on addr until ctx is done.
func serveMetrics(ctx context.Context, addr string, box *statsBox, log *slog.Logger) (func(), error) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(newFunnel(box), collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	info := prometheus.NewGauge(prometheus.GaugeOpts{Name: "xray_capture_build_info", Help: "Build information.",
		ConstLabels: prometheus.Labels{"version": version, "goversion": runtime.Version()}})
	info.Set(1)
	reg.MustRegister(info)
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		if !box.get().ready {
			http.Error(w, "starting", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--metrics-address: %w", err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics server", "error", err)
		}
	}()
	log.Info("metrics", "address", ln.Addr().String())
	return func() {
		sctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}, nil
}

// logStats writes one stats line every interval until ctx is done.
func logStats(ctx context.Context, every time.Duration, box *statsBox, log *slog.Logger) {
	if every <= 0 {
		return
	}
	go func() {
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				s := box.get()
				st := &s.stats
				log.Info("stats", "packets", st.Packets, "connections", st.Connections, "requests", st.Requests,
					"segments", st.Segments, "sent", s.sent, "send_errors", s.sendErrs,
					"not_sampled", st.NotSampledHeader+st.NotSampledRule, "kernel_drops", s.kernel.Drops,
					"unpaired", st.UnpairedRequests+st.UnpairedResponses+st.ResponseBeforeRequest, "gap_bytes", st.GapBytes)
			}
		}
	}()
}

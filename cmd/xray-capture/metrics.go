package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/xray-capture/xray-capture/capture"
	"github.com/xray-capture/xray-capture/httpparse"
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

// funnel is the Prometheus collector of the capture funnel.
type funnel struct {
	box   *statsBox
	descs map[string]*prometheus.Desc
}

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc("xray_capture_"+name, help, labels, nil)
}

func newFunnel(box *statsBox) *funnel {
	return &funnel{box: box, descs: map[string]*prometheus.Desc{
		"packets":     desc("packets_total", "Frames read from the capture source."),
		"bytes":       desc("bytes_total", "Bytes of those frames, as on the wire."),
		"decode":      desc("frames_not_traced_total", "Frames not traced, by reason.", "reason"),
		"kdrops":      desc("kernel_drops_total", "Packets the kernel dropped because the ring was full."),
		"freezes":     desc("ring_freezes_total", "Times the kernel froze the ring queue."),
		"connections": desc("connections_total", "TCP connections tracked."),
		"gaps":        desc("reassembly_gap_bytes_total", "Stream bytes declared lost (capture loss or bounds)."),
		"reasm":       desc("reassembly_segments_total", "TCP segments that needed reassembly work, by kind.", "kind"),
		"parseErrors": desc("parse_errors_total", "HTTP parse errors, by direction and reason.", "direction", "reason"),
		"requests":    desc("requests_total", "HTTP requests parsed."),
		"responses":   desc("responses_total", "Final HTTP responses parsed."),
		"unpaired":    desc("unpaired_total", "Requests or responses not paired, by reason.", "reason"),
		"sampled":     desc("sampled_total", "Requests sampled, by what decided.", "by"),
		"notSampled":  desc("not_sampled_total", "Requests not sampled, by what decided.", "by"),
		"segments":    desc("segments_total", "Segments built (sampled exchanges and unanswered requests)."),
		"orphans":     desc("unanswered_requests_total", "Requests without a response, by outcome.", "outcome"),
		"sent":        desc("segments_sent_total", "Segments sent to the daemon."),
		"sendErrors":  desc("segment_send_errors_total", "Segments the daemon socket refused."),
		"tooLarge":    desc("segments_too_large_total", "Segments over 64,000 bytes, not sent."),
		"outWritten":  desc("output_segments_written_total", "Segments written to --output."),
		"outLost":     desc("output_segments_lost_total", "Segments a failed write to --output lost."),
		"evictions":   desc("evictions_total", "State given up because a bound was reached, by bound.", "bound"),
		"ready":       desc("ready", "1 once capture runs."),
		"open":        desc("connections_open", "TCP connections tracked now."),
	}}
}

func (f *funnel) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range f.descs {
		ch <- d
	}
}

func (f *funnel) Collect(ch chan<- prometheus.Metric) {
	s := f.box.get()
	st := &s.stats
	c := func(name string, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(f.descs[name], prometheus.CounterValue, float64(v), labels...)
	}
	c("packets", st.Packets)
	c("bytes", st.Bytes)
	c("decode", st.NotTCP, "not_tcp")
	c("decode", st.Fragments, "ip_fragment")
	c("decode", st.Malformed, "malformed")
	c("decode", st.UnknownLink, "unknown_link_type")
	c("decode", st.OtherPort, "other_port")
	c("kdrops", s.kernel.Drops)
	c("freezes", s.kernel.Freezes)
	c("connections", st.Connections)
	c("gaps", st.GapBytes)
	c("reasm", st.OutOfOrder, "out_of_order")
	c("reasm", st.Retransmitted, "retransmitted")
	for r := 1; r < httpparse.NumReasons; r++ {
		c("parseErrors", st.RequestParseErrors[r], "request", httpparse.Reason(r).String())
		c("parseErrors", st.ResponseParseErrors[r], "response", httpparse.Reason(r).String())
	}
	c("requests", st.Requests)
	c("responses", st.Responses)
	c("unpaired", st.UnpairedRequests, "request_after_loss")
	c("unpaired", st.UnpairedResponses, "response_without_request")
	c("unpaired", st.ResponseBeforeRequest, "response_before_request")
	c("unpaired", st.LateResponses, "late_response")
	c("unpaired", st.InFlightAtEnd, "in_flight_at_end")
	c("sampled", st.SampledByHeader, "header")
	c("sampled", st.SampledByRule, "rule")
	c("notSampled", st.NotSampledHeader, "header")
	c("notSampled", st.NotSampledRule, "rule")
	c("segments", st.Segments)
	c("orphans", st.OrphanReset, "reset")
	c("orphans", st.OrphanClosed, "closed")
	c("orphans", st.OrphanTimeout, "timeout")
	c("sent", s.sent)
	c("sendErrors", s.sendErrs)
	c("tooLarge", s.tooBig)
	c("outWritten", s.outWritten)
	c("outLost", s.outLost)
	c("evictions", st.ConnTableFull, "connections")
	c("evictions", st.PendingOverflow, "pending_requests")
	c("evictions", st.ReassemblyOverflows, "reassembly_buffer")
	c("evictions", st.IdleClosed, "idle_timeout")
	c("evictions", st.HeaderEvictions, "header_buffer")
	ready := 0.0
	if s.ready {
		ready = 1
	}
	ch <- prometheus.MustNewConstMetric(f.descs["ready"], prometheus.GaugeValue, ready)
	ch <- prometheus.MustNewConstMetric(f.descs["open"], prometheus.GaugeValue, float64(st.OpenConnections))
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

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/xray-capture/xray-capture/emitter"
	"github.com/xray-capture/xray-capture/internal/pipeline"
	"github.com/xray-capture/xray-capture/segmenter"
)

// funnel is the Prometheus collector of the capture funnel: every counter
// and gauge of segmenter.Stats, as its table names them, and the kernel's,
// the sinks' and readiness, below.
type funnel struct {
	box   *pipeline.Box
	descs map[string]*prometheus.Desc // by metric name, without the prefix
}

// snapshotMetrics are the funnel's values that are not the Tracker's.
var snapshotMetrics = []struct {
	name, help string
	kind       prometheus.ValueType
	value      func(*pipeline.Snapshot) uint64
}{
	{"kernel_drops_total", "Packets the kernel dropped because the ring was full.", prometheus.CounterValue,
		func(s *pipeline.Snapshot) uint64 { return s.Kernel.Drops }},
	{"ring_freezes_total", "Times the kernel froze the ring queue.", prometheus.CounterValue,
		func(s *pipeline.Snapshot) uint64 { return s.Kernel.Freezes }},
	{"segments_sent_total", "Segments sent to the daemon.", prometheus.CounterValue,
		func(s *pipeline.Snapshot) uint64 { return s.Sent }},
	{"segment_send_errors_total", "Segments the daemon socket refused.", prometheus.CounterValue,
		func(s *pipeline.Snapshot) uint64 { return s.SendErrors }},
	{"segments_too_large_total", "Segments over 64,000 bytes, not sent.", prometheus.CounterValue,
		func(s *pipeline.Snapshot) uint64 { return s.TooLarge }},
	{"otlp_spans_sent_total", "Spans the OTLP receiver accepted.", prometheus.CounterValue,
		func(s *pipeline.Snapshot) uint64 { return s.OTLPSent }},
	{"output_segments_written_total", "Segments written to --output.", prometheus.CounterValue,
		func(s *pipeline.Snapshot) uint64 { return s.OutWritten }},
	{"output_segments_lost_total", "Segments a failed write to --output lost.", prometheus.CounterValue,
		func(s *pipeline.Snapshot) uint64 { return s.OutLost }},
	{"ready", "1 once capture runs.", prometheus.GaugeValue,
		func(s *pipeline.Snapshot) uint64 {
			if s.Ready {
				return 1
			}
			return 0
		}},
}

func newFunnel(box *pipeline.Box) *funnel {
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
	f.descs["otlp_spans_dropped_total"] = prometheus.NewDesc("xray_capture_otlp_spans_dropped_total",
		"Spans not delivered over OTLP, by reason: queue_full (the receiver is slower than the traffic), rejected (a non-retryable answer or a partial success), export_failed (retries ran out), shutdown (still waiting at exit).",
		[]string{"reason"}, nil)
	f.descs["sampling_mode"] = prometheus.NewDesc("xray_capture_sampling_mode",
		"1 for what decides sampling now: all (every request), default_rule, rules_file, or centralized (the X-Ray service's rules, while the daemon answers).",
		[]string{"mode"}, nil)
	return f
}

// samplingModes are the values of xray_capture_sampling_mode's label.
var samplingModes = []string{"all", "default_rule", "rules_file", "centralized"}

func (f *funnel) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range f.descs {
		ch <- d
	}
}

func (f *funnel) Collect(ch chan<- prometheus.Metric) {
	s := f.box.Get()
	for _, c := range s.Stats.Counters() {
		ch <- prometheus.MustNewConstMetric(f.descs[c.Metric], prometheus.CounterValue, float64(c.Value), c.LabelValues...)
	}
	for _, c := range s.Stats.Gauges() {
		ch <- prometheus.MustNewConstMetric(f.descs[c.Metric], prometheus.GaugeValue, float64(c.Value), c.LabelValues...)
	}
	for _, m := range snapshotMetrics {
		ch <- prometheus.MustNewConstMetric(f.descs[m.name], m.kind, float64(m.value(&s)))
	}
	for i, reason := range emitter.OTLPDropReasons {
		ch <- prometheus.MustNewConstMetric(f.descs["otlp_spans_dropped_total"], prometheus.CounterValue, float64(s.OTLPDropped[i]), reason)
	}
	for _, mode := range samplingModes {
		v := 0.0
		if s.SamplingMode == mode {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(f.descs["sampling_mode"], prometheus.GaugeValue, v, mode)
	}
}

// serveMetrics serves /metrics and /healthz on addr until ctx is done.
func serveMetrics(ctx context.Context, addr string, box *pipeline.Box, log *slog.Logger) (func(), error) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(newFunnel(box), collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	info := prometheus.NewGauge(prometheus.GaugeOpts{Name: "xray_capture_build_info", Help: "Build information.",
		ConstLabels: prometheus.Labels{"version": version, "goversion": runtime.Version()}})
	info.Set(1)
	reg.MustRegister(info)
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		if !box.Get().Ready {
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
func logStats(ctx context.Context, every time.Duration, box *pipeline.Box, log *slog.Logger) {
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
				s := box.Get()
				st := &s.Stats
				log.Info("stats", "packets", st.Packets, "connections", st.Connections, "requests", st.Requests,
					"segments", st.Segments, "sent", s.Sent, "send_errors", s.SendErrors, "otlp_sent", s.OTLPSent,
					"not_sampled", st.NotSampledHeader+st.NotSampledRule, "kernel_drops", s.Kernel.Drops,
					"unpaired", st.UnpairedRequests+st.UnpairedResponses+st.ResponseBeforeRequest, "gap_bytes", st.GapBytes)
			}
		}
	}()
}

// summaryField is one item of the end-of-capture line: a count, a word
// (daemon=off), or a note alone (daemon_unreachable), with an optional
// note that explains it.
type summaryField struct {
	key   string
	n     uint64
	word  string
	note  string
	alone bool // the key and its note, no value
}

// summaryFields are the end-of-capture line's items: the main counts,
// then every counter of something lost that is not zero.
func summaryFields(s pipeline.Snapshot) []summaryField {
	st := &s.Stats
	f := []summaryField{{key: "packets", n: st.Packets}, {key: "connections", n: st.Connections},
		{key: "requests", n: st.Requests}, {key: "segments", n: st.Segments}}
	if n := st.NotSampledHeader + st.NotSampledRule; n > 0 {
		f = append(f, summaryField{key: "not_sampled", n: n})
	}
	if st.InFlightAtEnd > 0 {
		// Sent as in-progress segments: no end was seen.
		f = append(f, summaryField{key: "in_progress", n: st.InFlightAtEnd})
	}
	for _, c := range st.Counters() {
		if c.Value != 0 && c.Drop {
			f = append(f, summaryField{key: c.Name, n: c.Value})
		}
	}
	if s.Live {
		f = append(f, summaryField{key: "kernel_drops", n: s.Kernel.Drops}, summaryField{key: "ring_freezes", n: s.Kernel.Freezes})
	}
	if s.OutLost > 0 {
		f = append(f, summaryField{key: "output_lost", n: s.OutLost, note: fmt.Sprint(s.LastOutErr)})
	}
	if s.OTLP {
		f = append(f, summaryField{key: "otlp_sent", n: s.OTLPSent})
		for i, reason := range emitter.OTLPDropReasons {
			if n := s.OTLPDropped[i]; n > 0 {
				f = append(f, summaryField{key: "otlp_dropped_" + reason, n: n})
			}
		}
		if s.LastOTLPErr != nil && s.OTLPDropped != [len(emitter.OTLPDropReasons)]uint64{} {
			f = append(f, summaryField{key: "otlp_error", alone: true, note: s.LastOTLPErr.Error()})
		}
	}
	if !s.Daemon {
		return append(f, summaryField{key: "daemon", word: "off"})
	}
	// Sent: handed to the kernel. UDP confirms nothing; an ICMP answer
	// that nothing listens is all that can be known.
	f = append(f, summaryField{key: "daemon_sent", n: s.Sent})
	if s.SendErrors > 0 {
		f = append(f, summaryField{key: "daemon_send_errors", n: s.SendErrors, note: fmt.Sprint(s.LastSendErr)})
	}
	if s.DaemonUnreachable != nil {
		f = append(f, summaryField{key: "daemon_unreachable", alone: true,
			note: fmt.Sprintf("%v: nothing listens at the daemon address; sent datagrams were lost", s.DaemonUnreachable)})
	}
	if s.TooLarge > 0 {
		f = append(f, summaryField{key: "segments_too_large", n: s.TooLarge})
	}
	return f
}

// printSummary writes the end-of-capture line, in the log format: a
// text line ("xray-capture: packets=... ") or one JSON object whose keys
// are the same, with each note under KEY_note.
func printSummary(w io.Writer, format string, s pipeline.Snapshot) {
	fields := summaryFields(s)
	if format == "json" {
		attrs := make([]slog.Attr, 0, len(fields)+2)
		for _, f := range fields {
			switch {
			case f.alone:
				attrs = append(attrs, slog.String(f.key, f.note))
				continue
			case f.word != "":
				attrs = append(attrs, slog.String(f.key, f.word))
			default:
				attrs = append(attrs, slog.Uint64(f.key, f.n))
			}
			if f.note != "" {
				attrs = append(attrs, slog.String(f.key+"_note", f.note))
			}
		}
		// Its own handler: the summary is written whatever --log-level says.
		slog.New(slog.NewJSONHandler(w, nil)).LogAttrs(context.Background(), slog.LevelInfo, "summary", attrs...)
		return
	}
	var b strings.Builder
	b.WriteString("xray-capture:")
	for _, f := range fields {
		switch {
		case f.alone:
			fmt.Fprintf(&b, " %s (%s)", f.key, f.note)
			continue
		case f.word != "":
			fmt.Fprintf(&b, " %s=%s", f.key, f.word)
		default:
			fmt.Fprintf(&b, " %s=%d", f.key, f.n)
		}
		if f.note != "" {
			fmt.Fprintf(&b, " (%s)", f.note)
		}
	}
	fmt.Fprintln(w, b.String())
}

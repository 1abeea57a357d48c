package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/xray-capture/xray-capture/awsmeta"
	"github.com/xray-capture/xray-capture/capture"
	"github.com/xray-capture/xray-capture/emitter"
	"github.com/xray-capture/xray-capture/httpparse"
	"github.com/xray-capture/xray-capture/naming"
	"github.com/xray-capture/xray-capture/reassembly"
	"github.com/xray-capture/xray-capture/sampling"
	"github.com/xray-capture/xray-capture/segmenter"
	"github.com/xray-capture/xray-capture/xray"
)

// run replays a file or captures live, as the options say.
func run(cmd *cobra.Command, o *Options) error {
	log := newLogger(o)
	// The Go heap's soft limit: the GC works harder near the ceiling
	// instead of letting the heap grow past it. A live capture's ring is
	// mapped memory outside the heap, so it comes off the limit: the
	// ceiling holds for the whole process, as a container's limit counts it.
	limitMB := o.MaxMemoryMB
	if o.Read == "" {
		limitMB -= o.RingMB
	}
	debug.SetMemoryLimit(int64(limitMB) << 20)
	box := &statsBox{}
	if o.MetricsAddress != "" {
		stop, err := serveMetrics(cmd.Context(), o.MetricsAddress, box, log)
		if err != nil {
			return err
		}
		defer stop()
	}
	logStats(cmd.Context(), o.StatsInterval, box, log)
	if o.Read == "" {
		return runLive(cmd, o, log, box)
	}
	return runReplay(cmd, o, log, box)
}

func newLogger(o *Options) *slog.Logger {
	level := map[string]slog.Level{"debug": slog.LevelDebug, "info": slog.LevelInfo, "warn": slog.LevelWarn, "error": slog.LevelError}[o.LogLevel]
	opts := &slog.HandlerOptions{Level: level}
	if o.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(o.Stderr, opts))
	}
	return slog.New(slog.NewTextHandler(o.Stderr, opts))
}

func runReplay(cmd *cobra.Command, o *Options, log *slog.Logger, box *statsBox) error {
	src, err := capture.OpenFile(o.Read)
	if err != nil {
		return fmt.Errorf("read %w", err)
	}
	defer src.Close()

	ps, closeSinks, err := newPipelines(cmd.Context(), o, false, 1, log)
	if err != nil {
		return err
	}
	t, sinks := ps[0].t, ps[0].sinks
	publish := func() { box.publish(0, takeSnapshot(t, sinks, nil, true)) }
	last, n, readErr := pump(cmd.Context(), src, t, publish)
	t.Close(last)
	publish()
	if sinks.summary != nil {
		sinks.summary.Print(o.Stdout)
	}
	sinkErr := closeSinks()
	printSummary(o.Stderr, takeSnapshot(t, sinks, nil, true))
	if readErr != nil {
		return fmt.Errorf("%s: after %d packets: %w", o.Read, n, readErr)
	}
	return sinkErr
}

// pipeline is one tracker and the sinks it feeds.
type pipeline struct {
	t     *segmenter.Tracker
	sinks *sinkSet
}

// newPipelines opens the sinks and builds n trackers behind them, with
// their sampler (live or replay rules) and plugin metadata. With n > 1
// (--workers) each pipeline has its own daemon socket and tracker, with
// 1/n of the memory bounds; they share the sampler (locked), the JSON
// lines, the printer and the summary.
func newPipelines(ctx context.Context, o *Options, live bool, n int, log *slog.Logger) ([]pipeline, func() error, error) {
	shared, closeShared, err := openSinks(o, live)
	if err != nil {
		return nil, nil, err
	}
	ps := []pipeline{{sinks: shared}}
	closeAll := func() error {
		errs := []error{closeShared()}
		for _, p := range ps[1:] {
			errs = append(errs, p.sinks.closeUDP())
		}
		return errors.Join(errs...)
	}
	for len(ps) < n {
		s := *shared
		if shared.udp != nil {
			if s.udp, err = emitter.NewUDP(o.DaemonAddress.UDP); err != nil {
				closeAll()
				return nil, nil, err
			}
		}
		ps = append(ps, pipeline{sinks: &s})
	}
	sampler, err := newSampler(ctx, o, live, log)
	if err != nil {
		closeAll()
		return nil, nil, err
	}
	if n > 1 {
		sampler = &lockedSampler{s: sampler}
	}
	var md awsmeta.Metadata
	if len(o.Plugins) > 0 {
		md = awsmeta.Collect(ctx, awsmeta.Config{Plugins: o.Plugins, EC2Endpoint: o.EC2Endpoint,
			BeanstalkConf: o.BeanstalkConf, ECSMetadata: os.Getenv("ECS_CONTAINER_METADATA_URI_V4"), Log: log})
	}
	for i := range ps {
		if ps[i].t, err = newTracker(o, ps[i].sinks, sampler, md, i, n); err != nil {
			closeAll()
			return nil, nil, err
		}
	}
	return ps, closeAll, nil
}

// lockedSampler lets the pipelines of --workers share one sampler, so
// that a reservoir's rate holds for the host, not per pipeline. It is
// called once per request. The pipelines' packet clocks interleave a few
// milliseconds apart; the sampler sees the latest time any of them gave,
// so that a reservoir's second never steps back and refills.
type lockedSampler struct {
	mu     sync.Mutex
	s      sampling.Sampler
	latest time.Time
}

func (l *lockedSampler) Sample(now time.Time, r *sampling.Request) sampling.Decision {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.After(l.latest) {
		l.latest = now
	}
	return l.s.Sample(l.latest, r)
}

// sinkSet is where segments go: the daemon unless it is off, a JSON-lines
// file, the --print view and the --summary table if asked.
type sinkSet struct {
	udp     *emitter.UDP
	lines   *emitter.JSONLines
	output  *outputFile // of lines, when --output is a file
	print   *emitter.Printer
	summary *emitter.Summary
}

func openSinks(o *Options, live bool) (*sinkSet, func() error, error) {
	s := &sinkSet{}
	if o.DaemonAddress.UDP != "" {
		udp, err := emitter.NewUDP(o.DaemonAddress.UDP)
		if err != nil {
			return nil, nil, err
		}
		s.udp = udp
	}
	if o.Print {
		s.print = emitter.NewPrinter(o.Stdout)
	}
	if o.Summary {
		s.summary = emitter.NewSummary()
	}
	switch o.Output {
	case "":
	case "-":
		s.lines = emitter.NewJSONLines(o.Stdout)
	default:
		out, err := openOutput(o.Output, live)
		if err != nil {
			s.closeUDP()
			return nil, nil, fmt.Errorf("--output: %w", err)
		}
		s.output = out
		s.lines = out.lines
	}
	closeAll := func() error {
		var errs []error
		if s.lines != nil {
			s.lines.Flush()
			if _, lost, err := s.lines.Counts(); lost > 0 {
				errs = append(errs, fmt.Errorf("--output: %d segments not written (the last error: %w)", lost, err))
			}
		}
		if s.output != nil {
			errs = append(errs, s.output.close())
		}
		errs = append(errs, s.closeUDP())
		return errors.Join(errs...)
	}
	return s, closeAll, nil
}

// outputFile is the file of --output. A replay rewrites it; a live capture
// appends to it, so that a restarted agent keeps what it wrote, and
// reopens it on SIGHUP, so that log rotation can move it away.
type outputFile struct {
	path  string
	lines *emitter.JSONLines
	mu    sync.Mutex
	f     *os.File
}

func openOutput(path string, live bool) (*outputFile, error) {
	f, err := createOutput(path, live)
	if err != nil {
		return nil, err
	}
	return &outputFile{path: path, lines: emitter.NewJSONLines(f), f: f}, nil
}

func createOutput(path string, live bool) (*os.File, error) {
	if live {
		return os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	}
	return os.Create(path)
}

// reopen opens the path again and sends later segments there; err says
// it could not, and segments keep going to the old file. oldErr is the
// old file's last write or close failing (the segments of a failed write
// are counted as lost).
func (o *outputFile) reopen() (oldErr, err error) {
	f, err := createOutput(o.path, true)
	if err != nil {
		return nil, err
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	flushErr := o.lines.Redirect(f)
	old := o.f
	o.f = f
	return errors.Join(flushErr, old.Close()), nil
}

func (o *outputFile) close() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.f.Close()
}

func (s *sinkSet) closeUDP() error {
	if s.udp == nil {
		return nil
	}
	return s.udp.Close()
}

// flush sends the batched datagrams and writes out buffered JSON lines, so
// that a live reader of --output sees them as they come.
func (s *sinkSet) flush() {
	if s.udp != nil {
		s.udp.Flush()
	}
	if s.lines != nil {
		s.lines.Flush()
	}
}

func (s *sinkSet) sink() segmenter.Sink {
	var tee emitter.Tee
	if s.udp != nil {
		tee = append(tee, s.udp)
	}
	if s.lines != nil {
		tee = append(tee, s.lines)
	}
	if s.print != nil {
		tee = append(tee, s.print)
	}
	if s.summary != nil {
		tee = append(tee, s.summary)
	}
	if len(tee) == 1 {
		return tee[0]
	}
	return tee
}

// newTracker builds pipeline i of n; it gets 1/n of the memory bounds.
func newTracker(o *Options, sinks *sinkSet, sampler sampling.Sampler, md awsmeta.Metadata, i, n int) (*segmenter.Tracker, error) {
	fixed, err := naming.NewFixed(o.ServiceName)
	if err != nil {
		return nil, err
	}
	var namer segmenter.Namer = fixed
	if o.DynamicNaming != "" {
		namer = naming.NewDynamic(o.DynamicNaming, fixed)
	}
	ids := xray.NewIDGen()
	if o.IDSeed != 0 {
		ids = xray.NewSeededIDGen(o.IDSeed + uint64(i))
	}
	return segmenter.New(segmenter.Config{
		Origin:          md.Origin,
		AWS:             md.AWS,
		Ports:           o.Ports,
		Namer:           namer,
		IDs:             ids,
		Sink:            sinks.sink(),
		SDKVersion:      version,
		ResponseTimeout: o.ResponseTimeout,
		IdleTimeout:     o.IdleTimeout,
		MaxConnections:  max(1, o.MaxConnections/n),
		MaxPending:      o.MaxPending,
		Sampler:         sampler,
		Budget: &reassembly.Budget{MaxBytes: o.ReassemblyMB << 20 / n, MaxBytesPerStream: 1 << 20,
			MaxSegments: 1024},
		ParseLimits: httpparse.Limits{Budget: &httpparse.Budget{MaxBytes: o.HeaderBufferMB << 20 / n}},
	})
}

// pump reads frames until the end of the source or until ctx is done. It
// returns the last packet time, the number of frames and a read error.
func pump(ctx context.Context, src capture.Source, t *segmenter.Tracker, publish func()) (time.Time, uint64, error) {
	var last time.Time
	var n uint64
	for {
		if n&4095 == 0 {
			if ctx.Err() != nil {
				return last, n, nil
			}
			publish()
		}
		f, err := src.ReadFrame()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return last, n, nil
			}
			return last, n, err
		}
		n++
		if f.Timestamp.After(last) {
			last = f.Timestamp
		}
		t.HandleFrame(f)
	}
}

// printSummary writes the end-of-capture line: the main counts, then every
// counter of something lost that is not zero.
func printSummary(w io.Writer, s snapshot) {
	st := &s.stats
	var b strings.Builder
	fmt.Fprintf(&b, "xray-capture: packets=%d connections=%d requests=%d segments=%d",
		st.Packets, st.Connections, st.Requests, st.Segments)
	if n := st.NotSampledHeader + st.NotSampledRule; n > 0 {
		fmt.Fprintf(&b, " not_sampled=%d", n)
	}
	for _, c := range st.Counters() {
		if c.Value != 0 && c.Drop {
			fmt.Fprintf(&b, " %s=%d", c.Name, c.Value)
		}
	}
	if s.live {
		fmt.Fprintf(&b, " kernel_drops=%d ring_freezes=%d", s.kernel.Drops, s.kernel.Freezes)
	}
	if s.outLost > 0 {
		fmt.Fprintf(&b, " output_lost=%d (%v)", s.outLost, s.lastOutErr)
	}
	if !s.daemon {
		fmt.Fprintln(w, b.String()+" daemon=off")
		return
	}
	fmt.Fprintf(&b, " daemon_sent=%d", s.sent)
	if s.sendErrs > 0 {
		fmt.Fprintf(&b, " daemon_send_errors=%d (%v)", s.sendErrs, s.lastSendErr)
	}
	if s.tooBig > 0 {
		fmt.Fprintf(&b, " segments_too_large=%d", s.tooBig)
	}
	fmt.Fprintln(w, b.String())
}

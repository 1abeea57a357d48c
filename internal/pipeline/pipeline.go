package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/xray-capture/xray-capture/awsmeta"
	"github.com/xray-capture/xray-capture/capture"
	"github.com/xray-capture/xray-capture/emitter"
	"github.com/xray-capture/xray-capture/httpparse"
	"github.com/xray-capture/xray-capture/kube"
	"github.com/xray-capture/xray-capture/naming"
	"github.com/xray-capture/xray-capture/reassembly"
	"github.com/xray-capture/xray-capture/sampling"
	"github.com/xray-capture/xray-capture/segmenter"
	"github.com/xray-capture/xray-capture/xray"
)

// Options says what to build. The command checks them; New trusts them.
type Options struct {
	// The source: a capture file, or live capture when Read is "".
	Read      string             // pcap or pcapng file, gzipped or not
	Interface string             // live; "" for every interface
	Engine    string             // live: auto, ebpf, cbpf or pcap
	Ring      capture.RingConfig // live: each worker's ring
	Workers   int                // live: rings in a fanout group, a worker each

	// The tracker. The bounds are for all workers together.
	Ports       []uint16
	ServiceName string // the default name; "" only when Services names every port
	// Services name segments by their connection's server address and
	// port, before ServiceName (naming.Services).
	Services      []naming.Service
	DynamicNaming string // a Host pattern; "" names segments by Services and ServiceName alone
	// Pods, when set, names segments after the Kubernetes pod serving the
	// connection, before Services and ServiceName, and adds its facts.
	Pods            *kube.Pods
	ResponseTimeout time.Duration
	IdleTimeout     time.Duration
	MaxConnections  int
	MaxPending      int // per connection
	ReassemblyMB    int
	HeaderBufferMB  int
	SDKVersion      string // the segments' aws.xray.sdk_version
	IDSeed          uint64 // seeds the ids (tests); 0: random
	// Pairing is what a connection does after a loss that destroyed its
	// framing: resume at an ACK anchor, or only certain pairs.
	Pairing segmenter.PairingMode

	// The sampler.
	Sampling      bool   // false: every request
	SamplingSet   bool   // Sampling was given: a replay samples only then, or with SamplingRules
	SamplingRules string // local rules file; "" for the default rule
	Centralized   string // auto (live: whenever the daemon's TCP address answers), on, off
	SamplingSeed  uint64 // seeds the draws (tests); 0: random

	// Metadata is what the AWS plugins look up for every segment; none
	// without Plugins.
	Metadata awsmeta.Config

	// The sinks.
	DaemonAddress emitter.DaemonAddress // UDP "": no daemon
	// OTLP: nil for no OTLP export. Its Resource is the user's
	// attributes; New adds what the plugins found.
	OTLP    *emitter.OTLPConfig
	Region  string // the AWS region configured, for the OTLP resource; "" if none
	Output  string // JSON lines to this file ("-": Stdout); live, appended to
	Print   bool   // a line per request on Stdout
	Summary bool   // a per-route table on Stdout at the end
	Stdout  io.Writer

	Log   *slog.Logger
	Stats *Box // where the counters go; nil: a Box no one reads
	// Opened, if set, is called once the live sources are open and
	// filtered, before anything else is opened, with the engine that
	// filters them: the moment to give up privileges.
	Opened func(engine string)
}

// Pipeline is a capture's workers: a source each, feeding its own
// tracker, and the sampler and sinks behind them.
type Pipeline struct {
	o          Options
	live       bool
	engine     string // live: the filter attached
	workers    []*worker
	sinks      *sinkSet     // those the workers share (and worker 0's daemon socket)
	closeSinks func() error // nil once closed
	sampling   *samplerMode
}

// worker is one source and what it feeds; one goroutine runs it.
type worker struct {
	src   capture.Source
	ring  liveSource // the same source, live; nil for a file
	t     *segmenter.Tracker
	sinks *sinkSet
}

// New opens the sources and the sinks and builds the trackers between
// them: the whole pipeline is wired here. Close releases what it opened.
func New(ctx context.Context, o Options) (_ *Pipeline, err error) {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Stats == nil {
		o.Stats = &Box{}
	}
	p := &Pipeline{o: o, live: o.Read == ""}
	defer func() {
		if err != nil {
			p.Close()
		}
	}()

	// Sources: the file, or a ring per worker with the engine's filter.
	if p.live {
		var rings []liveSource
		if rings, p.engine, err = openWorkers(o); err != nil {
			return nil, err
		}
		for _, r := range rings {
			p.workers = append(p.workers, &worker{src: r, ring: r})
		}
		if o.Opened != nil {
			o.Opened(p.engine)
		}
	} else {
		var f *capture.FileSource
		if f, err = capture.OpenFile(o.Read); err != nil {
			return nil, fmt.Errorf("--read: %w", err)
		}
		p.workers = []*worker{{src: f}}
	}
	n := len(p.workers)

	// What the plugins know of the host, in every segment and in the
	// OTLP resource.
	var md awsmeta.Metadata
	if len(o.Metadata.Plugins) > 0 {
		md = awsmeta.Collect(ctx, o.Metadata)
	}

	if o.OTLP != nil {
		cfg := *o.OTLP
		cfg.Resource = emitter.ResourceAttributes(md.Origin, md.AWS, o.Region, o.SDKVersion, o.OTLP.Resource)
		o.OTLP = &cfg
	}
	// Sinks: a daemon socket per worker; the OTLP exporter, the JSON
	// lines, the printer and the summary shared.
	sinks, closeSinks, err := openSinks(o, p.live, n)
	if err != nil {
		return nil, err
	}
	p.sinks, p.closeSinks = sinks[0], closeSinks

	// The sampler, shared: a reservoir's rate holds for the host.
	sampler, mode, err := newSampler(ctx, o, p.live, o.Log)
	if err != nil {
		return nil, err
	}
	p.sampling = mode
	if n > 1 {
		sampler = &lockedSampler{s: sampler}
	}

	// A tracker per source, into that worker's sinks.
	for i, w := range p.workers {
		w.sinks = sinks[i]
		if w.t, err = newTracker(o, w.sinks.sink(), w.sinks.views(), sampler, md, i, n); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// newTracker builds worker i of n; it gets 1/n of the memory bounds.
func newTracker(o Options, sink segmenter.Sink, views bool, sampler sampling.Sampler, md awsmeta.Metadata, i, n int) (*segmenter.Tracker, error) {
	namer, err := newNamer(o)
	if err != nil {
		return nil, err
	}
	var resources segmenter.Resources
	var servers segmenter.Servers
	if o.Pods != nil {
		// On a node, only the node's own servers: another node's agent
		// traces the requests its pods send elsewhere.
		resources, servers = o.Pods, o.Pods
	}
	ids := xray.NewIDGen()
	if o.IDSeed != 0 {
		ids = xray.NewSeededIDGen(o.IDSeed + uint64(i))
	}
	return segmenter.New(segmenter.Config{
		Origin:          md.Origin,
		AWS:             md.AWS,
		Resources:       resources,
		Servers:         servers,
		Ports:           o.Ports,
		Namer:           namer,
		IDs:             ids,
		Sink:            sink,
		SDKVersion:      o.SDKVersion,
		ResponseTimeout: o.ResponseTimeout,
		IdleTimeout:     o.IdleTimeout,
		MaxConnections:  max(1, o.MaxConnections/n),
		MaxPending:      o.MaxPending,
		Sampler:         sampler,
		Pairing:         o.Pairing,
		ViewUnsampled:   views,
		Budget:          reassemblyBudget(o.ReassemblyMB << 20 / n),
		ParseLimits:     httpparse.Limits{Budget: &httpparse.Budget{MaxBytes: o.HeaderBufferMB << 20 / n}},
	})
}

// newNamer names by the Host pattern, then by the connection's pod, then
// by its service, then the default name.
func newNamer(o Options) (naming.Namer, error) {
	var fixed *naming.Fixed
	if o.ServiceName != "" || len(o.Services) == 0 {
		var err error
		if fixed, err = naming.NewFixed(o.ServiceName); err != nil {
			return nil, err
		}
	}
	var namer naming.Namer = fixed
	if len(o.Services) > 0 {
		namer = naming.NewServices(o.Services, fixed)
	}
	if o.Pods != nil {
		namer = o.Pods.Namer(namer)
	}
	if o.DynamicNaming != "" {
		namer = naming.NewDynamic(o.DynamicNaming, namer)
	}
	return namer, nil
}

// Run runs every worker until its file ends, ctx is done, or a source
// fails, which stops the others. Then it closes the trackers, as at the
// end of the capture, prints the summary table and closes the sinks. The
// counters are in Options.Stats all along, and final when it returns.
func (p *Pipeline) Run(ctx context.Context) error {
	for i := range p.workers {
		p.publish(i)
	}
	if p.live {
		iface := p.o.Interface
		if iface == "" {
			iface = "all interfaces"
		}
		p.o.Log.Info("capturing", "interface", iface, "ports", portList(p.o.Ports), "engine", p.engine,
			"daemon", p.o.DaemonAddress.UDP, "workers", len(p.workers))
	}
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	ends := make([]time.Time, len(p.workers))
	readErrs := make([]error, len(p.workers))
	var wg sync.WaitGroup
	for i, w := range p.workers {
		publish := func() { p.publish(i) }
		wg.Go(func() {
			if w.ring != nil {
				readErrs[i] = pumpLive(ctx, w.ring, w.t, publish, w.sinks.flush)
				return
			}
			var n uint64
			if ends[i], n, readErrs[i] = pump(ctx, w.src, w.t, publish); readErrs[i] != nil {
				readErrs[i] = fmt.Errorf("%s: after %d packets: %w", p.o.Read, n, readErrs[i])
			}
		})
	}
	wg.Wait()
	for i, w := range p.workers {
		// Live, the capture ends now; a replay at its last packet.
		end := ends[i]
		if p.live {
			end = time.Now()
		}
		w.t.Close(end)
		p.publish(i)
	}
	p.PrintSummary()
	sinkErr := p.closeSinks()
	p.closeSinks = nil
	for i := range p.workers {
		// Again: closing the sinks sent the last batches.
		s := p.publish(i)
		if len(p.workers) > 1 {
			// How evenly the kernel spread the connections.
			p.o.Log.Info("worker", "worker", i, "packets", s.Stats.Packets, "connections", s.Stats.Connections,
				"segments", s.Stats.Segments, "kernel_drops", s.Kernel.Drops)
		}
	}
	if err := errors.Join(readErrs...); err != nil {
		if p.live {
			return fmt.Errorf("capture: %w", err)
		}
		return err
	}
	return sinkErr
}

// publish copies worker i's counters into the Box, and returns them.
func (p *Pipeline) publish(i int) Snapshot {
	w := p.workers[i]
	s := takeSnapshot(w.t, w.sinks, w.ring)
	s.SamplingMode = p.sampling.current()
	p.o.Stats.Publish(i, s)
	return s
}

// PrintSummary prints the --summary table so far, if there is one.
func (p *Pipeline) PrintSummary() {
	if p.sinks.summary != nil {
		p.sinks.summary.Print(p.o.Stdout)
	}
}

// ReopenOutput opens the Output file again, after a log rotation moved
// it, and writes later segments there; ok is false when there is no
// output file. err says it could not, and segments go on to the old file;
// oldErr is the old file's last write or close failing.
func (p *Pipeline) ReopenOutput() (ok bool, oldErr, err error) {
	if p.sinks.output == nil {
		return false, nil, nil
	}
	oldErr, err = p.sinks.output.reopen()
	return true, oldErr, err
}

// Close closes the sources, and the sinks if Run did not.
func (p *Pipeline) Close() error {
	var errs []error
	if p.closeSinks != nil {
		errs = append(errs, p.closeSinks())
		p.closeSinks = nil
	}
	for _, w := range p.workers {
		errs = append(errs, w.src.Close())
	}
	return errors.Join(errs...)
}

func portList(ports []uint16) string {
	s := make([]string, len(ports))
	for i, p := range ports {
		s[i] = fmt.Sprint(p)
	}
	return strings.Join(s, ",")
}

// reassemblyBudget is the default budget with the bytes this pipeline may
// hold for reordering.
func reassemblyBudget(maxBytes int) *reassembly.Budget {
	b := reassembly.DefaultBudget()
	b.MaxBytes = maxBytes
	return b
}

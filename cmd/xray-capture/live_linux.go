//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/xray-capture/xray-capture/capture"
	"github.com/xray-capture/xray-capture/segmenter"
)

// liveSource is a capture ring or handle.
type liveSource interface {
	ReadFrame() (capture.Frame, error)
	// BlockDone reports that the next read may wait for the kernel: the
	// moment to send what is batched.
	BlockDone() bool
	Stats() (capture.KernelStats, error)
	Close() error
}

// runLive captures on the host until SIGINT or SIGTERM, with one pipeline
// per --workers, each on its own ring.
func runLive(cmd *cobra.Command, o *Options, log *slog.Logger, box *statsBox) error {
	if err := checkCaptureCaps(); err != nil {
		return err
	}
	srcs, engine, err := openWorkers(o, log)
	if err != nil {
		return err
	}
	defer func() {
		for _, src := range srcs {
			src.Close()
		}
	}()
	if engine != "pcap" {
		// libpcap builds use cgo, where capabilities cannot be dropped.
		if err := dropAllCaps(); err != nil {
			log.Warn("capabilities kept", "reason", err)
		}
	}

	ps, closeSinks, err := newPipelines(cmd.Context(), o, true, len(srcs), log)
	if err != nil {
		return err
	}
	iface := o.Interface
	if iface == "" {
		iface = "all interfaces"
	}
	publish := make([]func(), len(ps))
	for i, p := range ps {
		publish[i] = func() { box.publish(i, takeSnapshot(p.t, p.sinks, srcs[i], true)) }
		publish[i]()
	}
	log.Info("capturing", "interface", iface, "ports", portList(o.Ports), "engine", engine,
		"daemon", o.DaemonAddress.UDP, "workers", len(ps))
	summary := ps[0].sinks.summary
	// SIGUSR1 prints the --summary table; SIGHUP, as for other daemons,
	// follows a log rotation: --output is reopened. Neither stops the
	// capture.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGHUP)
	if summary != nil {
		signal.Notify(sigs, syscall.SIGUSR1)
	}
	defer signal.Stop(sigs)
	go func() {
		for sig := range sigs {
			if sig == syscall.SIGUSR1 {
				summary.Print(o.Stdout)
			} else {
				reopenOutput(ps[0].sinks.output, log)
			}
		}
	}()
	// The first pipeline to fail stops the others.
	ctx, stop := context.WithCancel(cmd.Context())
	defer stop()
	readErrs := make([]error, len(ps))
	var wg sync.WaitGroup
	for i, p := range ps {
		wg.Go(func() {
			if readErrs[i] = pumpLive(ctx, srcs[i], p.t, publish[i], p.sinks.flush); readErrs[i] != nil {
				stop()
			}
		})
	}
	wg.Wait()
	for i, p := range ps {
		p.t.Close(time.Now())
		publish[i]()
	}
	if summary != nil {
		summary.Print(o.Stdout)
	}
	sinkErr := closeSinks()
	for i, p := range ps {
		// Again: closing the sinks sent the last batches.
		s := takeSnapshot(p.t, p.sinks, srcs[i], true)
		box.publish(i, s)
		if len(ps) > 1 {
			// How evenly the kernel spread the connections.
			log.Info("worker", "worker", i, "packets", s.stats.Packets, "connections", s.stats.Connections,
				"segments", s.stats.Segments, "kernel_drops", s.kernel.Drops)
		}
	}
	printSummary(o.Stderr, box.get())
	if err := errors.Join(readErrs...); err != nil {
		return fmt.Errorf("capture: %w", err)
	}
	return sinkErr
}

func reopenOutput(out *outputFile, log *slog.Logger) {
	if out == nil {
		log.Info("SIGHUP: no --output file to reopen")
		return
	}
	oldErr, err := out.reopen()
	if err != nil {
		log.Warn("SIGHUP: --output not reopened, segments go on to the old file", "path", out.path, "error", err)
		return
	}
	if oldErr != nil {
		log.Warn("SIGHUP: the old --output file failed", "error", oldErr)
	}
	log.Info("SIGHUP: --output reopened", "path", out.path)
}

// openWorkers opens a ring per --workers; more than one share a fanout
// group, so that the kernel hands each connection to one of them.
func openWorkers(o *Options, log *slog.Logger) ([]liveSource, string, error) {
	var srcs []liveSource
	var engine string
	var group uint16
	for i := range o.Workers {
		src, e, err := openLive(o, log)
		if err == nil {
			srcs, engine = append(srcs, src), e
			if o.Workers > 1 {
				group, err = joinGroup(src, e, i, group)
			}
		}
		if err != nil {
			for _, s := range srcs {
				s.Close()
			}
			return nil, "", err
		}
	}
	return srcs, engine, nil
}

// joinGroup puts worker i's ring in the fanout group: the first one makes
// it and returns its id.
func joinGroup(src liveSource, engine string, i int, group uint16) (uint16, error) {
	live, ok := src.(*capture.Live)
	if !ok {
		return 0, fmt.Errorf("--workers needs the ebpf or cbpf engine, not %s", engine)
	}
	var err error
	if i == 0 {
		group, err = live.StartFanout()
	} else {
		err = live.JoinFanout(group)
	}
	if err != nil {
		return 0, fmt.Errorf("--workers: %w", err)
	}
	return group, nil
}

// openLive opens the ring and attaches the filter the engine asks for.
func openLive(o *Options, log *slog.Logger) (liveSource, string, error) {
	if o.Engine == "pcap" {
		src, err := openPcap(o)
		return src, "pcap", err
	}
	return capture.OpenEngine(o.Engine, o.Interface, o.Ports, o.Ring, log)
}

// pumpLive reads until ctx is done. When no packet comes for a poll
// interval, the wall clock stands in for packet time, so that timeouts and
// idle connections still expire on a quiet host.
// Counters are published for the metrics every 4096 frames and on every
// quiet poll interval. Batched segments are flushed at the end of every
// ring block and on every quiet poll interval: a segment waits at most for
// the rest of its block, which the kernel hands over within the ring's
// block timeout.
func pumpLive(ctx context.Context, src liveSource, t *segmenter.Tracker, publish, flush func()) error {
	var n uint64
	for ctx.Err() == nil {
		f, err := src.ReadFrame()
		if err != nil {
			if errors.Is(err, capture.ErrTimeout) {
				t.Advance(time.Now())
				flush()
				publish()
				continue
			}
			return err
		}
		t.HandleFrame(f)
		if src.BlockDone() {
			flush()
		}
		if n++; n&4095 == 0 {
			publish()
		}
	}
	return nil
}

func portList(ports []uint16) string {
	s := make([]string, len(ports))
	for i, p := range ports {
		s[i] = fmt.Sprint(p)
	}
	return strings.Join(s, ",")
}

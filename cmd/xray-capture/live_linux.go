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
	"syscall"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/rlimit"
	"github.com/spf13/cobra"

	"github.com/xray-capture/xray-capture/bpf"
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

// runLive captures on the host until SIGINT or SIGTERM.
func runLive(cmd *cobra.Command, o *Options, log *slog.Logger, box *statsBox) error {
	if err := checkCaptureCaps(); err != nil {
		return err
	}
	src, engine, err := openLive(o, log)
	if err != nil {
		return err
	}
	defer src.Close()
	if engine != "pcap" {
		// libpcap builds use cgo, where capabilities cannot be dropped.
		if err := dropAllCaps(); err != nil {
			log.Warn("capabilities kept", "reason", err)
		}
	}

	t, sinks, closeSinks, err := newPipeline(cmd.Context(), o, true, log)
	if err != nil {
		return err
	}
	iface := o.Interface
	if iface == "" {
		iface = "all interfaces"
	}
	log.Info("capturing", "interface", iface, "ports", portList(o.Ports), "engine", engine,
		"daemon", o.DaemonAddress.UDP)
	publish := func() { box.publish(takeSnapshot(t, sinks, src, true)) }
	publish()
	if sinks.summary != nil {
		usr1 := make(chan os.Signal, 1)
		signal.Notify(usr1, syscall.SIGUSR1)
		defer signal.Stop(usr1)
		go func() {
			for range usr1 {
				sinks.summary.Print(o.Stdout)
			}
		}()
	}
	readErr := pumpLive(cmd.Context(), src, t, publish, sinks.flush)
	t.Close(time.Now())
	publish()
	if sinks.summary != nil {
		sinks.summary.Print(o.Stdout)
	}
	sinkErr := closeSinks()
	ks, _ := src.Stats()
	printSummary(o.Stderr, &t.Stats, sinks, &ks)
	if readErr != nil {
		return fmt.Errorf("capture: %w", readErr)
	}
	return sinkErr
}

// openLive opens the ring and attaches the filter the engine asks for.
func openLive(o *Options, log *slog.Logger) (liveSource, string, error) {
	if o.Engine == "pcap" {
		src, err := openPcap(o)
		return src, "pcap", err
	}
	src, err := capture.OpenLive(o.Interface, o.Ring)
	if err != nil {
		return nil, "", err
	}
	engine := o.Engine
	if engine == "auto" || engine == "ebpf" {
		err := attachEBPF(src, o.Ports, log)
		switch {
		case err == nil:
			return src, "ebpf", nil
		case engine == "ebpf":
			src.Close()
			return nil, "", err
		}
		log.Info("eBPF socket filter unavailable, using classic BPF", "reason", err)
		engine = "cbpf"
	}
	if engine == "cbpf" {
		prog, err := capture.ClassicFilter(o.Ports)
		if err == nil {
			err = src.AttachClassic(prog)
		}
		if err != nil {
			src.Close()
			return nil, "", err
		}
		return src, "cbpf", nil
	}
	src.Close()
	return nil, "", fmt.Errorf("--engine %q: want auto, ebpf, cbpf or pcap", engine)
}

func attachEBPF(src *capture.Live, ports []uint16, log *slog.Logger) error {
	if err := rlimit.RemoveMemlock(); err != nil {
		log.Debug("memlock limit kept", "reason", err)
	}
	f, err := bpf.NewFilter(ports)
	if err != nil {
		var ve *ebpf.VerifierError
		if errors.As(err, &ve) {
			log.Debug("verifier log", "log", fmt.Sprintf("%+v", ve))
		}
		if !canLoadBPF() {
			return fmt.Errorf("%w (loading it needs CAP_BPF, or CAP_SYS_ADMIN before Linux 5.8)", err)
		}
		return err
	}
	// Once attached, the socket holds the program; the loader's copy can go.
	defer f.Close()
	return src.AttachEBPF(f.FD())
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

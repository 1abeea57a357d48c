package pipeline

import (
	"sync"

	"github.com/xray-capture/xray-capture/capture"
	"github.com/xray-capture/xray-capture/emitter"
	"github.com/xray-capture/xray-capture/segmenter"
)

// Snapshot is a copy of every counter of a worker, taken by its goroutine
// (which owns them) for the readers: counters stay plain fields on the
// per-packet path.
type Snapshot struct {
	Stats                      segmenter.Stats
	Sent, SendErrors, TooLarge uint64 // of the daemon's socket
	LastSendErr                error
	// DaemonUnreachable: at the end, the daemon's address had answered
	// that nothing listens there (emitter.UDP.Unreachable).
	DaemonUnreachable   error
	Daemon              bool   // segments go to the daemon
	OutWritten, OutLost uint64 // of the JSON lines, which the workers share
	// The OTLP exporter's, which the workers share: spans accepted, and
	// dropped by reason (emitter.OTLPDropReasons).
	OTLP        bool
	OTLPSent    uint64
	OTLPDropped [len(emitter.OTLPDropReasons)]uint64
	LastOTLPErr error
	LastOutErr  error
	Kernel      capture.KernelStats
	Live        bool // Kernel holds a live source's counters
	Ready       bool
	// SamplingMode is what decides sampling now: all, default_rule,
	// rules_file or centralized (the X-Ray service's rules, while the
	// daemon answers).
	SamplingMode string
}

// add sums o into s: the workers of a live capture.
func (s *Snapshot) add(o Snapshot) {
	s.Stats.Add(&o.Stats)
	s.Sent += o.Sent
	s.SendErrors += o.SendErrors
	s.TooLarge += o.TooLarge
	if s.LastSendErr == nil {
		s.LastSendErr = o.LastSendErr
	}
	if s.DaemonUnreachable == nil {
		s.DaemonUnreachable = o.DaemonUnreachable
	}
	// Not the output's or the OTLP exporter's counts: every worker read
	// the same ones.
	s.Kernel.Packets += o.Kernel.Packets
	s.Kernel.Drops += o.Kernel.Drops
	s.Kernel.Freezes += o.Kernel.Freezes
	s.Ready = s.Ready && o.Ready
}

// Box holds the latest Snapshot of each worker; readers get the sum. It is
// safe for concurrent use.
type Box struct {
	mu    sync.Mutex
	parts []Snapshot
}

// Publish replaces worker's snapshot.
func (b *Box) Publish(worker int, s Snapshot) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for len(b.parts) <= worker {
		b.parts = append(b.parts, Snapshot{})
	}
	b.parts[worker] = s
}

// Get returns the sum of the workers' latest snapshots.
func (b *Box) Get() Snapshot {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.parts) == 0 {
		return Snapshot{}
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

// takeSnapshot copies the counters; it runs on the worker's goroutine.
// src is nil for a file.
func takeSnapshot(t *segmenter.Tracker, sinks *sinkSet, src kernelStats) Snapshot {
	t.SyncStats()
	s := Snapshot{Stats: t.Stats, Ready: true}
	if u := sinks.udp; u != nil {
		s.Daemon = true
		s.Sent, s.SendErrors, s.TooLarge, s.LastSendErr = u.Sent, u.SendErrors, u.TooLarge, u.LastError
		s.DaemonUnreachable = u.Unreachable
	}
	if x := sinks.otlp; x != nil {
		s.OTLP, s.OTLPSent, s.OTLPDropped, s.LastOTLPErr = true, x.Sent(), x.Dropped(), x.LastError()
	}
	if l := sinks.lines; l != nil {
		s.OutWritten, s.OutLost, s.LastOutErr = l.Counts()
	}
	if src != nil {
		s.Live = true
		s.Kernel, _ = src.Stats()
	}
	return s
}

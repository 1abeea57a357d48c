package pipeline

import (
	"errors"
	"fmt"
	"os"
	"sync"

	"github.com/xray-capture/xray-capture/emitter"
	"github.com/xray-capture/xray-capture/segmenter"
)

// sinkSet is where a worker's segments go: the daemon unless it is off, a
// JSON-lines file, the --print view and the --summary table if asked.
type sinkSet struct {
	udp     *emitter.UDP
	otlp    *emitter.OTLP     // shared by the workers
	otlpIn  *emitter.OTLPSink // this worker's
	lines   *emitter.JSONLines
	output  *outputFile // of lines, when Output is a file
	print   *emitter.Printer
	summary *emitter.Summary
}

// openSinks opens the sinks of n workers: each has its own daemon socket,
// and they share the rest. The function closes them all, after writing
// out what the JSON lines buffer; its error says what was lost.
func openSinks(o Options, live bool, n int) ([]*sinkSet, func() error, error) {
	shared, closeShared, err := openShared(o, live)
	if err != nil {
		return nil, nil, err
	}
	sets := []*sinkSet{shared}
	if o.OTLP != nil {
		x, err := emitter.NewOTLP(*o.OTLP, n)
		if err != nil {
			closeShared()
			return nil, nil, err
		}
		shared.otlp, shared.otlpIn = x, x.Sink()
	}
	closeAll := func() error {
		var errs []error
		if shared.otlp != nil {
			// Every worker's last batch, then what the exporter holds.
			for _, s := range sets {
				s.otlpIn.Flush()
			}
			errs = append(errs, shared.otlp.Close())
		}
		errs = append(errs, closeShared())
		for _, s := range sets[1:] {
			errs = append(errs, s.closeUDP())
		}
		return errors.Join(errs...)
	}
	for len(sets) < n {
		s := *shared
		if shared.otlp != nil {
			s.otlpIn = shared.otlp.Sink()
		}
		if shared.udp != nil {
			if s.udp, err = emitter.NewUDP(o.DaemonAddress.UDP); err != nil {
				closeAll()
				return nil, nil, err
			}
		}
		sets = append(sets, &s)
	}
	return sets, closeAll, nil
}

func openShared(o Options, live bool) (*sinkSet, func() error, error) {
	s := &sinkSet{}
	if o.DaemonAddress.UDP != "" {
		udp, err := emitter.NewUDP(o.DaemonAddress.UDP)
		if err != nil {
			return nil, nil, err
		}
		if udp.Unresolved != nil {
			// Once, for every worker's socket: they follow the same name.
			o.Log.Warn(fmt.Sprintf("daemon address %s does not resolve yet; segments are counted as send errors until it does", o.DaemonAddress.UDP),
				"error", udp.Unresolved.Error())
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

func (s *sinkSet) closeUDP() error {
	if s.udp == nil {
		return nil
	}
	return s.udp.Close()
}

// flush sends the batched datagrams and writes out buffered JSON lines, so
// that a live reader of the output sees them as they come.
func (s *sinkSet) flush() {
	if s.udp != nil {
		s.udp.Flush()
	}
	if s.otlpIn != nil {
		s.otlpIn.Flush()
	}
	if s.lines != nil {
		s.lines.Flush()
	}
}

// views reports whether a sink shows every request, sampled or not.
func (s *sinkSet) views() bool { return s.print != nil || s.summary != nil }

// sink is the set as the tracker's one Sink. With views, the tracker also
// builds segments for requests not sampled, which only the views get.
func (s *sinkSet) sink() segmenter.Sink {
	var tee emitter.Tee
	if s.udp != nil {
		tee = append(tee, emitter.SampledOnly{Sink: s.udp})
	}
	if s.otlpIn != nil {
		tee = append(tee, emitter.SampledOnly{Sink: s.otlpIn})
	}
	if s.lines != nil {
		tee = append(tee, emitter.SampledOnly{Sink: s.lines})
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

// outputFile is the file of Output. A replay rewrites it; a live capture
// appends to it, so that a restarted agent keeps what it wrote, and
// reopens it on request (SIGHUP), so that log rotation can move it away.
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

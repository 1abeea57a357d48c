//go:build linux

package main

import (
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/xray-capture/xray-capture/internal/pipeline"
)

// readyLive checks that the process may open a capture socket, and has
// the pipeline drop every capability once its sockets are open and
// filtered.
func readyLive(po *pipeline.Options, log *slog.Logger) error {
	if err := checkCaptureCaps(); err != nil {
		return err
	}
	po.Opened = func(engine string) {
		if engine == "pcap" {
			return // libpcap builds use cgo, where capabilities cannot be dropped.
		}
		if err := dropAllCaps(); err != nil {
			log.Warn("capabilities kept", "reason", err)
		}
	}
	return nil
}

// handleSignals serves, until the function it returns is called, SIGUSR1,
// which prints the --summary table, and SIGHUP, which follows a log
// rotation, as for other daemons: --output is reopened. Neither stops the
// capture.
func handleSignals(o *Options, p *pipeline.Pipeline, log *slog.Logger) func() {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGHUP)
	if o.Summary {
		signal.Notify(sigs, syscall.SIGUSR1)
	}
	go func() {
		for sig := range sigs {
			if sig == syscall.SIGUSR1 {
				p.PrintSummary()
			} else {
				reopenOutput(o, p, log)
			}
		}
	}()
	return func() { signal.Stop(sigs) }
}

func reopenOutput(o *Options, p *pipeline.Pipeline, log *slog.Logger) {
	ok, oldErr, err := p.ReopenOutput()
	switch {
	case !ok:
		log.Info("SIGHUP: no --output file to reopen")
		return
	case err != nil:
		log.Warn("SIGHUP: --output not reopened, segments go on to the old file", "path", o.Output, "error", err)
		return
	}
	if oldErr != nil {
		log.Warn("SIGHUP: the old --output file failed", "error", oldErr)
	}
	log.Info("SIGHUP: --output reopened", "path", o.Output)
}

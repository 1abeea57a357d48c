package main

import (
	"context"
	"log/slog"
	"net"
	"time"

	"github.com/xray-capture/xray-capture/sampling"
)

// newSampler builds the sampler the options ask for (xray-spec Part A): in a
// replay every request unless sampling is asked for; live, the default rule
// or the rules file, under centralized sampling when the daemon's TCP proxy
// answers (or when it is forced on).
func newSampler(ctx context.Context, o *Options, live bool, log *slog.Logger) (sampling.Sampler, error) {
	if !o.Sampling || (!live && !o.samplingSet && o.SamplingRules == "") {
		return sampling.All{}, nil
	}
	var local *sampling.Local
	if o.SamplingRules != "" {
		var err error
		if local, err = sampling.LoadLocal(o.SamplingRules, o.SamplingSeed); err != nil {
			return nil, err
		}
	} else {
		local = sampling.NewDefault(o.SamplingSeed)
	}
	useCentral := o.Centralized == "on" || (o.Centralized == "auto" && live && daemonAnswers(o.DaemonAddress.TCP))
	if !useCentral {
		return local, nil
	}
	c := sampling.NewCentralized(o.DaemonAddress.TCP, local, o.SamplingSeed, log)
	c.Start(ctx)
	log.Info("centralized sampling", "daemon", o.DaemonAddress.TCP)
	return c, nil
}

// daemonAnswers reports whether something listens on the daemon's TCP
// address (its sampling proxy).
func daemonAnswers(addr string) bool {
	if addr == "" { // --daemon-address off
		return false
	}
	c, err := net.DialTimeout("tcp", addr, 300*time.Millisecond)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

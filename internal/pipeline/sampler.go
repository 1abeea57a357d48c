package pipeline

import (
	"context"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/xray-capture/xray-capture/sampling"
)

// newSampler builds the sampler the options ask for (docs/segments.md,
// Sampling): in a replay every request unless sampling is asked for; live,
// the default rule or the rules file, under centralized sampling when the
// daemon's TCP proxy answers (or when it is forced on).
func newSampler(ctx context.Context, o Options, live bool, log *slog.Logger) (sampling.Sampler, error) {
	if !o.Sampling || (!live && !o.SamplingSet && o.SamplingRules == "") {
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

// lockedSampler lets the workers share one sampler, so that a reservoir's
// rate holds for the host, not per worker. It is called once per request.
// The workers' packet clocks interleave a few milliseconds apart; the
// sampler sees the latest time any of them gave, so that a reservoir's
// second never steps back and refills.
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

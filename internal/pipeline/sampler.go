package pipeline

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/xray-capture/xray-capture/sampling"
)

// samplerMode names what decides which requests are sampled, for the
// start-up log and the xray_capture_sampling_mode metric.
type samplerMode struct {
	base    string // "all" (every request), "default_rule" or "rules_file"
	central *sampling.Centralized
}

// current is "centralized" while the service's rules decide, else base.
func (m *samplerMode) current() string {
	if m.central != nil && m.central.Active() {
		return "centralized"
	}
	return m.base
}

// newSampler builds the sampler the options ask for (docs/segments.md,
// Sampling): in a replay every request unless sampling is asked for; live,
// the default rule or the rules file, under centralized sampling whenever
// the daemon's TCP proxy answers (auto: asked in the background from the
// start, so that a daemon starting after the agent still counts), or when
// it is forced on.
func newSampler(ctx context.Context, o Options, live bool, log *slog.Logger) (sampling.Sampler, *samplerMode, error) {
	if !o.Sampling || (!live && !o.SamplingSet && o.SamplingRules == "") {
		why := "sampling off"
		if o.Sampling {
			why = "a replay traces every request unless --sampling or --sampling-rules is given"
		}
		level := slog.LevelInfo
		if !live {
			level = slog.LevelDebug // a replay's output says what it traced
		}
		log.Log(ctx, level, "sampling", "mode", "all", "why", why)
		return sampling.All{}, &samplerMode{base: "all"}, nil
	}
	var local *sampling.Local
	mode := &samplerMode{base: "default_rule"}
	if o.SamplingRules != "" {
		var err error
		if local, err = sampling.LoadLocal(o.SamplingRules, o.SamplingSeed); err != nil {
			return nil, nil, err
		}
		mode.base = "rules_file"
	} else {
		local = sampling.NewDefault(o.SamplingSeed)
	}
	describe := "the X-Ray default rule: the first request each second and 5% of the rest"
	if mode.base == "rules_file" {
		describe = "the rules of " + o.SamplingRules
	}
	useCentral := o.Centralized == "on" || (o.Centralized == "auto" && live && o.DaemonAddress.TCP != "")
	if !useCentral {
		log.Info("sampling", "mode", mode.base, "rules", describe, "centralized", o.Centralized)
		return local, mode, nil
	}
	c := sampling.NewCentralized(o.DaemonAddress.TCP, local, o.SamplingSeed, log)
	c.Start(ctx)
	mode.central = c
	log.Info("sampling", "mode", "centralized", "daemon", o.DaemonAddress.TCP,
		"until_the_daemon_answers", describe)
	return c, mode, nil
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

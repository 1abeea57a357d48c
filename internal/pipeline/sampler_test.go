package pipeline

import (
	"testing"
	"time"

	"github.com/xray-capture/xray-capture/sampling"
)

// The workers of a live capture share a sampler whose clock never steps
// back, so that a late packet of one worker does not reopen a spent second.
func TestLockedSamplerClockNeverStepsBack(t *testing.T) {
	var seen []time.Time
	rec := samplerFunc(func(now time.Time, _ *sampling.Request) sampling.Decision {
		seen = append(seen, now)
		return sampling.Decision{}
	})
	l := &lockedSampler{s: rec}
	t0 := time.Unix(1700000000, 0)
	for _, d := range []time.Duration{0, 1500 * time.Millisecond, 999 * time.Millisecond, 2 * time.Second} {
		l.Sample(t0.Add(d), &sampling.Request{})
	}
	want := []time.Duration{0, 1500 * time.Millisecond, 1500 * time.Millisecond, 2 * time.Second}
	for i, d := range want {
		if !seen[i].Equal(t0.Add(d)) {
			t.Errorf("call %d: sampler saw %v, want %v", i, seen[i].Sub(t0), d)
		}
	}
}

type samplerFunc func(time.Time, *sampling.Request) sampling.Decision

func (f samplerFunc) Sample(now time.Time, r *sampling.Request) sampling.Decision { return f(now, r) }

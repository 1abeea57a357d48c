package sampling

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/http"
	"sort"
	"sync"
	"time"
)

// Timers of the SDKs (docs/segments.md, Centralized sampling).
const (
	RulesInterval   = 5 * time.Minute
	TargetsInterval = 10 * time.Second
	RulesTTL        = time.Hour // older rules are not trusted: the local rules decide
)

// While the daemon does not answer (it may start after the agent), rules
// are asked for again after RetryMin, doubling up to RetryMax: the console's
// rules apply within seconds of the daemon coming up.
const (
	RetryMin = time.Second
	RetryMax = 30 * time.Second
)

type centralRule struct {
	name                     string
	priority                 int
	fixedRate                float64
	reservoirSize            int64
	serviceName, serviceType []byte
	host, method, path       []byte

	// From SamplingTargets.
	hasQuota  bool
	quota     int64
	quotaTTL  time.Time
	interval  time.Duration
	res       reservoir
	borrowSec int64

	// Statistics for the next SamplingTargets call.
	requests, sampled, borrows int64
}

// Centralized samples with the rules of the X-Ray service.
type Centralized struct {
	endpoint string
	client   *http.Client
	clientID string
	fallback Sampler
	log      *slog.Logger
	clock    func() time.Time // wall clock, for the age of the rules

	mu        sync.Mutex
	rules     []*centralRule
	fetchedAt time.Time
	rnd       *rand.Rand
	scratch   []byte

	// The background loop's state: whether the last fetch worked (for the
	// log of each switch) and the next retry's delay.
	answered, tried bool
	retry           time.Duration
	retryMin        time.Duration

	// Counters.
	RuleFetches, RuleFetchErrors, TargetCalls, TargetErrors int64
}

// NewCentralized talks to the daemon's TCP proxy at addr (host:port) and
// uses fallback while it has no fresh rules.
func NewCentralized(addr string, fallback Sampler, seed uint64, log *slog.Logger) *Centralized {
	var id [12]byte
	crand.Read(id[:])
	if seed == 0 {
		seed = rand.Uint64()
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Centralized{
		endpoint: "http://" + addr,
		client:   &http.Client{Timeout: 2 * time.Second},
		clientID: hex.EncodeToString(id[:]),
		fallback: fallback,
		log:      log.With("component", "sampling"),
		clock:    time.Now,
		rnd:      rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		retryMin: RetryMin,
	}
}

// Active reports whether the service's rules decide now: they were fetched
// and are not older than RulesTTL. Otherwise the fallback decides.
func (c *Centralized) Active() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return !c.fetchedAt.IsZero() && c.clock().Sub(c.fetchedAt) <= RulesTTL
}

// Start polls rules and targets until ctx is done: rules every
// RulesInterval once the daemon answers, and every few seconds until it
// does. Each switch between the service's rules and the fallback is logged.
func (c *Centralized) Start(ctx context.Context) {
	go func() {
		targets := time.NewTicker(TargetsInterval)
		defer targets.Stop()
		next := time.NewTimer(c.refresh(ctx))
		defer next.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-next.C:
				next.Reset(c.refresh(ctx))
			case <-targets.C:
				if !c.Active() {
					continue
				}
				if err := c.ReportTargets(ctx); err != nil {
					c.log.Debug("sampling targets", "error", err)
				}
			}
		}
	}()
}

// refresh fetches the rules, logs a switch, and returns when to fetch next.
func (c *Centralized) refresh(ctx context.Context) time.Duration {
	err := c.RefreshRules(ctx)
	if ctx.Err() != nil {
		return RulesInterval // stopping
	}
	c.mu.Lock()
	was, first, n := c.answered, !c.tried, len(c.rules)
	c.answered, c.tried = err == nil, true
	if err != nil {
		c.retry = min(max(2*c.retry, c.retryMin), RetryMax)
	} else {
		c.retry = 0
	}
	retry := c.retry
	c.mu.Unlock()
	switch {
	case err == nil && !was:
		c.log.Info("centralized sampling active: the X-Ray service's rules decide", "daemon", c.endpoint, "rules", n)
	case err != nil && (was || first):
		c.log.Warn("centralized sampling unavailable: local rules decide until the daemon answers; retrying", "daemon", c.endpoint, "error", err)
	case err != nil:
		c.log.Debug("centralized sampling still unavailable", "error", err, "retry_in", retry)
	}
	if err != nil {
		return retry
	}
	return RulesInterval
}

func (c *Centralized) post(ctx context.Context, path string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("%s: %s: %s", path, resp.Status, bytes.TrimSpace(msg))
	}
	return json.NewDecoder(io.LimitReader(resp.Body, 8<<20)).Decode(out)
}

type ruleRecord struct {
	SamplingRule struct {
		RuleName, ResourceARN, ServiceName, ServiceType, Host, HTTPMethod, URLPath string
		Priority, Version                                                          int
		FixedRate                                                                  float64
		ReservoirSize                                                              int64
		Attributes                                                                 map[string]string
	}
}

// RefreshRules fetches the rules (GetSamplingRules). Counters and targets
// of rules that stay are kept.
func (c *Centralized) RefreshRules(ctx context.Context) error {
	var out struct{ SamplingRuleRecords []ruleRecord }
	err := c.post(ctx, "/GetSamplingRules", map[string]any{"NextToken": nil}, &out)
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		c.RuleFetchErrors++
		return err
	}
	c.RuleFetches++
	old := map[string]*centralRule{}
	for _, r := range c.rules {
		old[r.name] = r
	}
	var rules []*centralRule
	for _, rec := range out.SamplingRuleRecords {
		s := rec.SamplingRule
		// As both SDKs: only version 1 rules for any resource, without
		// attributes (which a passive tracer could not match anyway).
		if s.Version != 1 || s.ResourceARN != "*" || len(s.Attributes) > 0 || s.RuleName == "" {
			continue
		}
		r := old[s.RuleName]
		if r == nil {
			r = &centralRule{name: s.RuleName}
		}
		r.priority, r.fixedRate, r.reservoirSize = s.Priority, s.FixedRate, s.ReservoirSize
		r.serviceName, r.serviceType = []byte(s.ServiceName), []byte(s.ServiceType)
		r.host, r.method, r.path = []byte(s.Host), []byte(s.HTTPMethod), []byte(s.URLPath)
		rules = append(rules, r)
	}
	sort.SliceStable(rules, func(i, j int) bool {
		if rules[i].priority != rules[j].priority {
			return rules[i].priority < rules[j].priority
		}
		return rules[i].name < rules[j].name
	})
	c.rules, c.fetchedAt = rules, c.clock()
	return nil
}

// ReportTargets sends the statistics of the rules that saw requests and
// applies the quotas that come back (SamplingTargets).
func (c *Centralized) ReportTargets(ctx context.Context) error {
	type stat struct {
		RuleName                                string
		ClientID                                string
		RequestCount, SampledCount, BorrowCount int64
		Timestamp                               float64
	}
	c.mu.Lock()
	now := c.clock()
	var stats []stat
	for _, r := range c.rules {
		if r.requests == 0 {
			continue
		}
		stats = append(stats, stat{r.name, c.clientID, r.requests, r.sampled, r.borrows, float64(now.Unix())})
		r.requests, r.sampled, r.borrows = 0, 0, 0
	}
	fetchedAt := c.fetchedAt
	c.mu.Unlock()
	if len(stats) == 0 {
		return nil
	}
	var out struct {
		SamplingTargetDocuments []struct {
			RuleName          string
			FixedRate         *float64
			ReservoirQuota    *int64
			ReservoirQuotaTTL *float64
			Interval          *int64
		}
		LastRuleModification float64
	}
	err := c.post(ctx, "/SamplingTargets", map[string]any{"SamplingStatisticsDocuments": stats}, &out)
	c.mu.Lock()
	if err != nil {
		c.TargetErrors++
		c.mu.Unlock()
		return err
	}
	c.TargetCalls++
	byName := map[string]*centralRule{}
	for _, r := range c.rules {
		byName[r.name] = r
	}
	for _, d := range out.SamplingTargetDocuments {
		r := byName[d.RuleName]
		if r == nil {
			continue
		}
		if d.FixedRate != nil {
			r.fixedRate = *d.FixedRate
		}
		if d.ReservoirQuota != nil && d.ReservoirQuotaTTL != nil {
			sec, frac := math.Modf(*d.ReservoirQuotaTTL)
			r.hasQuota, r.quota, r.quotaTTL = true, *d.ReservoirQuota, time.Unix(int64(sec), int64(frac*1e9))
		}
		if d.Interval != nil {
			r.interval = time.Duration(*d.Interval) * time.Second
		}
	}
	c.mu.Unlock()
	// Rules changed on the service since we fetched them: fetch again.
	if out.LastRuleModification > float64(fetchedAt.Unix()) {
		return c.RefreshRules(ctx)
	}
	return nil
}

func (r *centralRule) applies(q *Request, path []byte) bool {
	return matches(r.host, q.Host) && matches(r.method, q.Method) && matches(r.path, path) &&
		matches(r.serviceName, q.ServiceName) && matches(r.serviceType, q.ServiceType)
}

// Sample applies the first matching rule in priority order; without fresh
// rules the fallback decides and no rule name is recorded.
func (c *Centralized) Sample(now time.Time, q *Request) Decision {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fetchedAt.IsZero() || now.Sub(c.fetchedAt) > RulesTTL { // packet time: no clock read per request
		return c.fallback.Sample(now, q)
	}
	path := decodePath(&c.scratch, q.Path)
	for _, r := range c.rules {
		if !r.applies(q, path) {
			continue
		}
		r.requests++
		sampled := false
		switch {
		case !r.hasQuota || now.After(r.quotaTTL):
			// No quota yet, or it expired: borrow one a second.
			if s := now.Unix(); r.reservoirSize != 0 && r.borrowSec != s {
				r.borrowSec = s
				r.borrows++
				r.sampled++ // SampledCount counts borrowed samples too
				return Decision{Sampled: true, RuleName: r.name}
			}
			sampled = c.rnd.Float64() < r.fixedRate
		case r.res.take(now, r.quota):
			sampled = true
		default:
			sampled = c.rnd.Float64() < r.fixedRate
		}
		if sampled {
			r.sampled++
		}
		return Decision{Sampled: sampled, RuleName: r.name}
	}
	return c.fallback.Sample(now, q)
}

package sampling

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xray-capture/xray-capture/internal/testutil"
)

// fakeXRay answers GetSamplingRules and SamplingTargets with the shapes of
// the real API (docs/segments.md, Centralized sampling) and records what it was sent.
type fakeXRay struct {
	mu      sync.Mutex
	rules   string
	targets string
	calls   []string
	stats   []map[string]any
}

func (f *fakeXRay) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, r.Method+" "+r.URL.Path)
	switch r.URL.Path {
	case "/GetSamplingRules":
		io.WriteString(w, f.rules)
	case "/SamplingTargets":
		var in struct{ SamplingStatisticsDocuments []map[string]any }
		json.Unmarshal(body, &in)
		f.stats = append(f.stats, in.SamplingStatisticsDocuments...)
		io.WriteString(w, f.targets)
	default:
		http.NotFound(w, r)
	}
}

func rulesDoc(rules ...string) string {
	var recs []string
	for _, r := range rules {
		recs = append(recs, `{"CreatedAt":1.6e9,"ModifiedAt":1.6e9,"SamplingRule":`+r+`}`)
	}
	return `{"SamplingRuleRecords":[` + strings.Join(recs, ",") + `],"NextToken":null}`
}

func rule(name string, prio int, rate float64, reservoir int, extra string) string {
	b, _ := json.Marshal(map[string]any{"RuleName": name, "RuleARN": "arn:aws:xray:us-east-1:1:sampling-rule/" + name,
		"ResourceARN": "*", "Priority": prio, "FixedRate": rate, "ReservoirSize": reservoir, "ServiceName": "*",
		"ServiceType": "*", "Host": "*", "HTTPMethod": "*", "URLPath": "*", "Version": 1, "Attributes": map[string]string{}})
	if extra != "" {
		return strings.TrimSuffix(string(b), "}") + "," + extra + "}"
	}
	return string(b)
}

// never is a fallback that samples nothing, to tell it apart.
type never struct{}

func (never) Sample(time.Time, *Request) Decision { return Decision{} }

func newTestCentralized(t *testing.T, f *fakeXRay) (*Centralized, *httptest.Server, *time.Time) {
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	c := NewCentralized(strings.TrimPrefix(srv.URL, "http://"), never{}, 1, nil)
	c.rnd = rand.New(half{})
	clock := time.Unix(1700000000, 0)
	c.clock = func() time.Time { return clock }
	return c, srv, &clock
}

func TestTV24Borrowing(t *testing.T) {
	f := &fakeXRay{rules: rulesDoc(rule("Default", 10000, 0.1, 5, ""))}
	c, _, clock := newTestCentralized(t, f)
	if err := c.RefreshRules(context.Background()); err != nil {
		t.Fatal(err)
	}
	var got []Decision
	for i := range 3 {
		got = append(got, c.Sample(clock.Add(time.Duration(i)*time.Millisecond), req("h", "GET", "/")))
	}
	if !got[0].Sampled || got[0].RuleName != "Default" || got[1].Sampled || got[2].Sampled {
		t.Errorf("decisions %+v: want the first borrowed, the others over 0.5 >= 0.1", got)
	}
}

func TestCentralizedTargetsQuotaAndFallback(t *testing.T) {
	f := &fakeXRay{rules: rulesDoc(
		rule("Default", 10000, 0.0, 1, ""),
		rule("checkout", 1, 0.0, 0, `"URLPath":"/checkout*"`),
		rule("shop-ec2", 2, 1.0, 0, `"ServiceName":"shop","ServiceType":"AWS::EC2::Instance"`),
		rule("ignored-attrs", 0, 1.0, 0, `"Attributes":{"a":"b"}`),
	)}
	c, srv, clock := newTestCentralized(t, f)
	ctx := context.Background()
	if err := c.RefreshRules(ctx); err != nil {
		t.Fatal(err)
	}
	names := []string{}
	for _, r := range c.rules {
		names = append(names, r.name)
	}
	if strings.Join(names, ",") != "checkout,shop-ec2,Default" {
		t.Fatalf("rules in priority order: %v", names)
	}
	shop := &Request{Host: []byte("h"), Method: []byte("GET"), Path: []byte("/cart"), ServiceName: []byte("shop"), ServiceType: []byte("AWS::EC2::Instance")}
	if d := c.Sample(*clock, shop); !d.Sampled || d.RuleName != "shop-ec2" {
		t.Errorf("service name and type match: %+v", d)
	}
	other := &Request{Host: []byte("h"), Method: []byte("GET"), Path: []byte("/cart"), ServiceName: []byte("other")}
	if d := c.Sample(*clock, other); !d.Sampled || d.RuleName != "Default" {
		t.Errorf("default rule borrows the first of the second: %+v", d)
	}
	if d := c.Sample(*clock, other); d.Sampled {
		t.Errorf("second request of the second: %+v", d)
	}

	// Targets: statistics out, quota in.
	f.targets = `{"SamplingTargetDocuments":[{"RuleName":"Default","FixedRate":0.0,"ReservoirQuota":2,"ReservoirQuotaTTL":1700000060,"Interval":10}],"LastRuleModification":1.6e9,"UnprocessedStatistics":[]}`
	if err := c.ReportTargets(ctx); err != nil {
		t.Fatal(err)
	}
	byRule := map[string]map[string]any{}
	for _, s := range f.stats {
		byRule[s["RuleName"].(string)] = s
	}
	if d := byRule["Default"]; d == nil || d["RequestCount"] != 2.0 || d["SampledCount"] != 1.0 || d["BorrowCount"] != 1.0 || len(d["ClientID"].(string)) != 24 {
		t.Errorf("Default statistics: %v", d)
	}
	if d := byRule["shop-ec2"]; d == nil || d["RequestCount"] != 1.0 || d["SampledCount"] != 1.0 || d["BorrowCount"] != 0.0 {
		t.Errorf("shop-ec2 statistics: %v", d)
	}
	if _, ok := byRule["checkout"]; ok {
		t.Error("a rule that saw no request is reported")
	}
	next := clock.Add(time.Second)
	var sampled int
	for range 5 {
		if c.Sample(next, other).Sampled {
			sampled++
		}
	}
	if sampled != 2 {
		t.Errorf("quota of 2 a second: %d of 5 sampled", sampled)
	}
	// After the quota's TTL, borrowing again.
	late := clock.Add(2 * time.Minute)
	if d := c.Sample(late, other); !d.Sampled {
		t.Error("expired quota: the first request of the second is borrowed")
	}

	// The service goes away: the rules stay in use for an hour, then the
	// local rules decide.
	srv.Close()
	if err := c.RefreshRules(ctx); err == nil {
		t.Fatal("refresh against a stopped server succeeded")
	}
	*clock = clock.Add(30 * time.Minute)
	if d := c.Sample(clock.Add(time.Second), shop); d.RuleName != "shop-ec2" {
		t.Errorf("rules 30 minutes old still decide: %+v", d)
	}
	*clock = clock.Add(31 * time.Minute)
	if d := c.Sample(clock.Add(2*time.Second), shop); d.Sampled || d.RuleName != "" {
		t.Errorf("rules over an hour old: the fallback decides, got %+v", d)
	}
	if c.RuleFetches != 1 || c.RuleFetchErrors != 1 || c.TargetCalls != 1 {
		t.Errorf("counters fetches %d errors %d targets %d", c.RuleFetches, c.RuleFetchErrors, c.TargetCalls)
	}
}

func TestCentralizedUnreachableUsesFallback(t *testing.T) {
	c := NewCentralized("127.0.0.1:1", All{}, 1, nil)
	if err := c.RefreshRules(context.Background()); err == nil {
		t.Fatal("no error from an address nobody listens on")
	}
	if d := c.Sample(time.Now(), req("h", "GET", "/")); !d.Sampled || d.RuleName != "" {
		t.Errorf("fallback decision %+v", d)
	}
}

// A daemon that starts after the agent: local rules decide until it
// answers, then its rules, within the retry delay; each switch is logged.
func TestCentralizedSwitchesOnWhenTheDaemonAppears(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens yet
	var logs testutil.SyncBuffer
	c := NewCentralized(addr, never{}, 1, slog.New(slog.NewTextHandler(&logs, nil)))
	c.retryMin = 20 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c.Start(ctx)
	time.Sleep(100 * time.Millisecond)
	if c.Active() || !strings.Contains(logs.String(), "centralized sampling unavailable") {
		t.Fatalf("active %v before the daemon answers; logs:\n%s", c.Active(), logs.String())
	}
	now := time.Now()
	if d := c.Sample(now, req("h", "GET", "/")); d.Sampled || d.RuleName != "" {
		t.Fatalf("the fallback should decide: %+v", d)
	}

	f := &fakeXRay{rules: rulesDoc(rule("Everything", 1, 1.0, 0, ""))}
	ln, err = net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: f}
	go srv.Serve(ln)
	defer srv.Close()
	deadline := time.Now().Add(5 * time.Second)
	for !c.Active() {
		if time.Now().After(deadline) {
			t.Fatalf("still not active 5 s after the daemon came up; logs:\n%s", logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if d := c.Sample(now, req("h", "GET", "/")); !d.Sampled || d.RuleName != "Everything" {
		t.Errorf("the service's rule should decide: %+v", d)
	}
	if !strings.Contains(logs.String(), "centralized sampling active") {
		t.Errorf("the switch is not logged:\n%s", logs.String())
	}
}

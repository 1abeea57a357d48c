package sampling

import (
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// half is a random source whose Float64 is always 0.5.
type half struct{}

func (half) Uint64() uint64 { return 1 << 52 } // Float64 takes the low 53 bits

func req(host, method, path string) *Request {
	return &Request{Host: []byte(host), Method: []byte(method), Path: []byte(path)}
}

func TestTV20LocalReservoir(t *testing.T) {
	l, err := ParseLocal([]byte(`{"version":2,"default":{"fixed_target":1,"rate":0.05},"rules":[
		{"description":"checkout","host":"*","http_method":"*","url_path":"/checkout","fixed_target":10,"rate":0.05}]}`), 1)
	if err != nil {
		t.Fatal(err)
	}
	l.rnd = rand.New(half{})
	now := time.Unix(1700000000, 0)
	var got []bool
	for i := range 12 {
		got = append(got, l.Sample(now.Add(time.Duration(i)*time.Millisecond), req("shop:8080", "POST", "/checkout")).Sampled)
	}
	for i, s := range got {
		if s != (i < 10) {
			t.Errorf("/checkout request %d: sampled=%v", i+1, s)
		}
	}
	for i := range 3 {
		if s := l.Sample(now, req("shop", "GET", "/")).Sampled; s != (i == 0) {
			t.Errorf("/ request %d: sampled=%v (default rule: one a second, then 0.5 >= 0.05)", i+1, s)
		}
	}
	// A new second refills the reservoirs.
	if !l.Sample(now.Add(time.Second), req("shop", "GET", "/")).Sampled {
		t.Error("the next second's first request was not sampled")
	}
}

func TestRuleOrderAndMatching(t *testing.T) {
	l, err := ParseLocal([]byte(`{"version":1,"default":{"fixed_target":0,"rate":0},"rules":[
		{"service_name":"api.*","http_method":"GET","url_path":"/a b/*","fixed_target":0,"rate":1},
		{"service_name":"*","http_method":"*","url_path":"/a*","fixed_target":0,"rate":0},
		{"service_name":"*","http_method":"*","url_path":"*","fixed_target":0,"rate":1}]}`), 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		r    *Request
		want bool
	}{
		{req("api.example.com", "GET", "/a%20b/c"), true}, // first rule; the path is matched decoded
		{req("API.example.com", "get", "/A B/c"), true},   // case-insensitive
		{req("www.example.com", "GET", "/a b/c"), false},  // second rule wins over the third
		{req("www.example.com", "GET", "/b"), true},       // third
		{req("", "", ""), true},                           // empty values match anything: first rule
	} {
		if got := l.Sample(time.Unix(1, 0), tc.r).Sampled; got != tc.want {
			t.Errorf("%s %s %s: %v", tc.r.Host, tc.r.Method, tc.r.Path, got)
		}
	}
}

func TestTV21AndValidation(t *testing.T) {
	for _, tc := range []struct{ doc, want string }{
		{`{"version":2,"default":{"fixed_target":1,"rate":0.05},"rules":[{"description":"svc","service_name":"a","host":"*","http_method":"*","url_path":"*","fixed_target":1,"rate":0.1}]}`,
			`rule 1 ("svc"): all non-default rules must have values for url_path, host, and http_method`},
		{`{"version":1,"default":{"fixed_target":1,"rate":0.05},"rules":[{"host":"*","http_method":"*","url_path":"*","fixed_target":1,"rate":0.1}]}`,
			"rule 1: a version 1 rule names its host in service_name"},
		{`{"version":2,"default":{"fixed_target":1,"rate":0.05},"rules":[{"host":"*","url_path":"*","fixed_target":1,"rate":0.1}]}`,
			"rule 1: all non-default rules must have values"},
		{`{"version":3,"default":{"fixed_target":1,"rate":0.05}}`, `"version" must be 1 or 2`},
		{`{"version":2}`, `a "default" rule is required`},
		{`{"version":2,"default":{"fixed_target":1,"rate":0.05,"url_path":"/"}}`, "the default rule must not have"},
		{`{"version":2,"default":{"fixed_target":-1,"rate":0.05}}`, "default rule: fixed_target must not be negative"},
		{`{"version":2,"default":{"fixed_target":1,"rate":1.5}}`, "default rule: rate must be between 0 and 1"},
		{`{"version":2,"default":{"fixed_target":1,"rate":0.05},"rules":[{"host":"*","http_method":"*","url_path":"*","fixed_target":1,"rate":-0.1}]}`,
			"rule 1: rate must be between 0 and 1"},
		{`{"version":2,"default":{"fixed_target":1,"rate":0.05,"fixed_targt":3}}`, `unknown field "fixed_targt"`},
		{`not json`, "not a sampling rules document"},
	} {
		_, err := ParseLocal([]byte(tc.doc), 1)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.doc, err, tc.want)
		}
	}
	if _, err := ParseLocal([]byte(`{"version":2,"default":{"fixed_target":1,"rate":0.05},"rules":[{"id":"x","description":"d","host":"*","http_method":"*","url_path":"*","fixed_target":1,"rate":0.1}]}`), 1); err != nil {
		t.Errorf("description and id are allowed: %v", err)
	}
}

func TestDefaultRuleRate(t *testing.T) {
	// 1,000 requests a second for 10 seconds: 10 from the reservoir plus 5%
	// of the rest.
	l := NewDefault(42)
	n := 0
	for s := range 10 {
		for i := range 1000 {
			if l.Sample(time.Unix(int64(1700000000+s), int64(i)*1e6), req("h", "GET", "/")).Sampled {
				n++
			}
		}
	}
	if lo, hi := 10+449, 10+550; n < lo || n > hi { // 4.5% and 5.5% of 9,990
		t.Errorf("sampled %d of 10,000, want %d to %d", n, lo, hi)
	}
}

func TestLocalSampleDoesNotAlloc(t *testing.T) {
	l := NewDefault(1)
	r := req("shop.example:8080", "GET", "/api/items")
	now := time.Unix(1700000000, 0)
	if n := testing.AllocsPerRun(1000, func() { l.Sample(now, r) }); n != 0 {
		t.Errorf("Sample allocates %.1f times", n)
	}
}

package sampling

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"time"

	"github.com/xray-capture/xray-capture/naming"
)

// Request is what rules match on.
type Request struct {
	Host, Method, Path []byte // Host with its port; Path as on the wire, no query
	ServiceName        []byte // the segment's name
	ServiceType        []byte // the origin (AWS::EC2::Instance, ...), empty without plugin
}

// Decision is a sampling verdict.
type Decision struct {
	Sampled  bool
	RuleName string // the centralized rule that decided, for aws.xray.sampling_rule_name
}

// Sampler decides for one request. now is the request's start (packet time).
type Sampler interface {
	Sample(now time.Time, r *Request) Decision
}

// All samples every request (--sampling=false: trace everything).
type All struct{}

// Sample always says yes.
func (All) Sample(time.Time, *Request) Decision { return Decision{Sampled: true} }

// reservoir hands out at most max samples per epoch second.
type reservoir struct {
	second int64
	used   int64
}

func (r *reservoir) take(now time.Time, max int64) bool {
	if s := now.Unix(); s != r.second {
		r.second, r.used = s, 0
	}
	if r.used < max {
		r.used++
		return true
	}
	return false
}

type localRule struct {
	description        string
	host, method, path []byte
	fixedTarget        int64
	rate               float64
	res                reservoir
}

// Local applies a local rules document.
type Local struct {
	rules   []*localRule
	def     *localRule
	rnd     *rand.Rand
	scratch []byte // the decoded path
}

// DefaultRules is the SDKs' built-in document: one per second, then 5%.
const DefaultRules = `{"version":2,"default":{"fixed_target":1,"rate":0.05},"rules":[]}`

// NewDefault returns the default rule with a random source seeded from seed
// (0: a random seed).
func NewDefault(seed uint64) *Local {
	l, err := ParseLocal([]byte(DefaultRules), seed)
	if err != nil {
		panic(err) // the built-in document is valid
	}
	return l
}

// LoadLocal reads a rules file.
func LoadLocal(path string, seed uint64) (*Local, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("sampling rules: %w", err)
	}
	l, err := ParseLocal(b, seed)
	if err != nil {
		return nil, fmt.Errorf("sampling rules %s: %w", path, err)
	}
	return l, nil
}

type ruleDoc struct {
	ID          json.RawMessage `json:"id"`
	Description string          `json:"description"`
	Host        *string         `json:"host"`
	ServiceName *string         `json:"service_name"`
	HTTPMethod  *string         `json:"http_method"`
	URLPath     *string         `json:"url_path"`
	FixedTarget *int64          `json:"fixed_target"`
	Rate        *float64        `json:"rate"`
}

// ParseLocal validates a rules document as the Go SDK does (docs/segments.md,
// Local sampling rules); an error names the rule at fault. Unknown keys are refused, so
// that a misspelt key is not silently ignored.
func ParseLocal(data []byte, seed uint64) (*Local, error) {
	var doc struct {
		Version *int      `json:"version"`
		Default *ruleDoc  `json:"default"`
		Rules   []ruleDoc `json:"rules"`
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("not a sampling rules document: %w", err)
	}
	if doc.Version == nil || (*doc.Version != 1 && *doc.Version != 2) {
		return nil, errors.New(`"version" must be 1 or 2`)
	}
	if doc.Default == nil {
		return nil, errors.New(`a "default" rule is required`)
	}
	d := doc.Default
	if d.Host != nil || d.ServiceName != nil || d.HTTPMethod != nil || d.URLPath != nil {
		return nil, errors.New("the default rule must not have host, service_name, http_method or url_path")
	}
	def, err := newLocalRule("default rule", d, "", "", "")
	if err != nil {
		return nil, err
	}
	l := &Local{def: def}
	if seed == 0 {
		l.rnd = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	} else {
		l.rnd = rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	}
	for i, r := range doc.Rules {
		name := fmt.Sprintf("rule %d", i+1)
		if r.Description != "" {
			name += fmt.Sprintf(" (%q)", r.Description)
		}
		var host *string
		switch *doc.Version {
		case 1:
			if r.Host != nil {
				return nil, fmt.Errorf("%s: a version 1 rule names its host in service_name, not host", name)
			}
			host = r.ServiceName
		case 2:
			if r.ServiceName != nil {
				// TV-21: as the Go SDK; Python would ignore the key.
				return nil, fmt.Errorf("%s: all non-default rules must have values for url_path, host, and http_method (service_name is not a version 2 key)", name)
			}
			host = r.Host
		}
		if host == nil || *host == "" || r.HTTPMethod == nil || *r.HTTPMethod == "" || r.URLPath == nil || *r.URLPath == "" {
			key := "host"
			if *doc.Version == 1 {
				key = "service_name"
			}
			return nil, fmt.Errorf("%s: all non-default rules must have values for url_path, %s, and http_method", name, key)
		}
		lr, err := newLocalRule(name, &r, *host, *r.HTTPMethod, *r.URLPath)
		if err != nil {
			return nil, err
		}
		l.rules = append(l.rules, lr)
	}
	return l, nil
}

func newLocalRule(name string, r *ruleDoc, host, method, path string) (*localRule, error) {
	if r.FixedTarget == nil || r.Rate == nil {
		return nil, fmt.Errorf("%s: fixed_target and rate are required", name)
	}
	if *r.FixedTarget < 0 {
		return nil, fmt.Errorf("%s: fixed_target must not be negative", name)
	}
	if *r.Rate < 0 || *r.Rate > 1 {
		return nil, fmt.Errorf("%s: rate must be between 0 and 1", name)
	}
	return &localRule{description: r.Description, host: []byte(host), method: []byte(method),
		path: []byte(path), fixedTarget: *r.FixedTarget, rate: *r.Rate}, nil
}

// matches: each request value is empty or matches the rule's pattern.
func matches(pattern, value []byte) bool {
	return len(value) == 0 || naming.WildcardMatch(pattern, value)
}

// Sample applies the first rule that matches, else the default.
func (l *Local) Sample(now time.Time, r *Request) Decision {
	path := l.decodedPath(r.Path)
	rule := l.def
	for _, lr := range l.rules {
		if matches(lr.host, r.Host) && matches(lr.method, r.Method) && matches(lr.path, path) {
			rule = lr
			break
		}
	}
	if rule.res.take(now, rule.fixedTarget) {
		return Decision{Sampled: true}
	}
	return Decision{Sampled: l.rnd.Float64() < rule.rate}
}

// decodedPath percent-decodes the path as the SDKs see it (Go's
// r.URL.Path); most paths have no escape and are returned as they are.
func (l *Local) decodedPath(p []byte) []byte {
	return decodePath(&l.scratch, p)
}

func decodePath(scratch *[]byte, p []byte) []byte {
	if bytes.IndexByte(p, '%') < 0 {
		return p
	}
	s, err := url.PathUnescape(string(p))
	if err != nil {
		return p
	}
	*scratch = append((*scratch)[:0], s...)
	return *scratch
}

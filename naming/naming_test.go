package naming

import (
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"
)

// Pairs from the SDKs' own pattern tests and TV-07 (docs/segments.md, Test vectors).
func TestWildcardMatch(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var long strings.Builder
	long.WriteByte('a')
	for range 8192 {
		long.WriteByte(byte('a' + r.IntN(26)))
	}
	long.WriteByte('b')
	for _, tt := range []struct {
		pattern, text string
		want          bool
	}{
		{"", "", true}, {"", "x", false}, {"*", "", true}, {"a*", "a", true},
		{"*a", "ba", true}, {"a*a", "aa", true}, {"?", "a", true}, {"??", "a", false},
		{"?*?", "a", false}, {"*?*a", "a", false}, {"*?*a*", "ba", true},
		{"a*na*ha", "anananahahanahana", false}, {"Fo?", "FOO", true},
		{"*/foo", "/bar/foo", true}, {"abcd", "abc", false}, {"a*b", long.String(), true},
		{"*.example.com", "API.example.com:8080", false}, {"*.example.com*", "API.example.com:8080", true},
		{"?", "é", true}, {"straße", "STRASSE", false}, {"*.EXAMPLE.com", "ÄPI.example.com", true},
	} {
		if got := WildcardMatch([]byte(tt.pattern), []byte(tt.text)); got != tt.want {
			t.Errorf("WildcardMatch(%q, %q) = %v, want %v", tt.pattern, tt.text, got, tt.want)
		}
	}
}

func TestDynamic(t *testing.T) {
	fb, err := NewFixed("fallback")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ pattern, host, want string }{
		{"*.example.com", "api.example.com", "api.example.com"},            // TV-01
		{"*.example.com", "API.example.com:8080", "fallback"},              // TV-02
		{"*.example.com*", "API.example.com:8080", "API.example.com:8080"}, // TV-03
		{"*", "API.example.com:80", "API.example.com"},                     // TV-04, as Flask
		{"*", "", "fallback"},                              // TV-06, as Python
		{"*.example.com", "evil.attacker.net", "fallback"}, // forged Host
		{"*", "[2001:db8::1]:8080", "2001:db8::1:8080"},    // brackets are rejected characters
		{"*", "[]", "fallback"},                            // nothing left
		{"*", "a(b)c!", "abc"},
	} {
		if got := string(NewDynamic(tt.pattern, fb).AppendName(nil, []byte(tt.host), netip.Addr{}, 0)); got != tt.want {
			t.Errorf("pattern %q host %q: got %q, want %q", tt.pattern, tt.host, got, tt.want)
		}
	}
}

func TestClean(t *testing.T) {
	long := strings.Repeat("é", 250)
	if got := string(Clean(nil, []byte(long))); got != strings.Repeat("é", MaxNameRunes) {
		t.Errorf("cut on runes: got %d bytes", len(got))
	}
	if got := string(Clean(nil, []byte("svc?;*()!$~^<>[]{}name\xff"))); got != "svcname" {
		t.Errorf("Clean = %q", got)
	}
	if _, err := NewFixed("<>"); err == nil {
		t.Error("NewFixed accepted a name that cleans to nothing")
	}
}

func TestDynamicDoesNotAlloc(t *testing.T) {
	fb, _ := NewFixed("fallback")
	d := NewDynamic("*.example.com", fb)
	dst := make([]byte, 0, 256)
	host := []byte("api.example.com")
	if n := testing.AllocsPerRun(100, func() { dst = d.AppendName(dst[:0], host, netip.Addr{}, 0) }); n != 0 {
		t.Errorf("AppendName allocates %.1f times", n)
	}
}

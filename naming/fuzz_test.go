package naming

import (
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzWildcardMatch compares the SDK algorithm with a regular expression
// built from the same pattern, on ASCII texts without '*': the SDKs compare
// a pattern's '*' with the text literally first, so a text holding '*' can
// miss where a regexp matches; Host headers hold none.
func FuzzWildcardMatch(f *testing.F) {
	for _, p := range [][2]string{{"*.example.com", "api.example.com"}, {"a*na*ha", "anananahahanahana"},
		{"*?*a*", "ba"}, {"Fo?", "FOO"}, {"", ""}, {"*", ""}} {
		f.Add(p[0], p[1])
	}
	f.Fuzz(func(t *testing.T, pattern, text string) {
		if !isASCII([]byte(pattern)) || !isASCII([]byte(text)) || strings.Contains(text, "*") || len(pattern) > 64 || len(text) > 256 {
			return
		}
		var re strings.Builder
		re.WriteString("(?is)^")
		for _, c := range pattern {
			switch c {
			case '*':
				re.WriteString(".*")
			case '?':
				re.WriteString(".")
			default:
				re.WriteString(regexp.QuoteMeta(string(c)))
			}
		}
		re.WriteString("$")
		want := regexp.MustCompile(re.String()).MatchString(text)
		if got := WildcardMatch([]byte(pattern), []byte(text)); got != want {
			t.Fatalf("WildcardMatch(%q, %q) = %v, regexp says %v", pattern, text, got, want)
		}
		if name := Clean(nil, []byte(text)); !utf8.Valid(name) || utf8.RuneCount(name) > MaxNameRunes {
			t.Fatalf("Clean(%q) = %q", text, name)
		}
	})
}

// FuzzParseService: a spec never panics, a parsed one has a name X-Ray
// accepts, and its canonical form reads back as the same service, which
// covers the requests it was written for.
func FuzzParseService(f *testing.F) {
	for _, s := range []string{"8080=shop", "10.0.1.0/24:8080=a", "[2001:db8::1]:8080=b", "::ffff:10.0.0.0/104=c",
		"10.0.1.5/24=x", "[::1]=y", "fe80::1%eth0=z", "65536=n", "8080=<>"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, item string) {
		s, err := ParseService(item)
		if err != nil {
			return
		}
		if s.Name == "" || !utf8.ValidString(s.Name) || utf8.RuneCountInString(s.Name) > MaxNameRunes {
			t.Fatalf("ParseService(%q): name %q", item, s.Name)
		}
		again, err := ParseService(s.String())
		if err != nil || again != s {
			t.Fatalf("ParseService(%q) = %q, which reads back as %v, %v", item, s, again, err)
		}
		if s.Prefix.IsValid() {
			ns := NewServices([]Service{s}, nil)
			port := s.Port
			if port == 0 {
				port = 1
			}
			if got := string(ns.AppendName(nil, nil, s.Prefix.Addr(), port)); got != s.Name {
				t.Fatalf("%q does not name its own address: %q", s, got)
			}
		}
	})
}

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

package naming

import (
	"strings"
	"unicode/utf8"
)

// WildcardMatch reports whether text matches pattern case-insensitively,
// where `*` matches any run (also empty) and `?` exactly one character, and
// the whole text must match. It is the SDKs' greedy algorithm with one
// back-tracking point (docs/segments.md, Wildcard pattern). `?` matches one byte for
// ASCII text; text with other characters is compared rune by rune, as the
// Python SDK does, so that `?` matches "é".
func WildcardMatch(pattern, text []byte) bool {
	if len(pattern) == 0 {
		return len(text) == 0
	}
	if len(pattern) == 1 && pattern[0] == '*' {
		return true
	}
	if isASCII(pattern) && isASCII(text) {
		return matchASCII(pattern, text)
	}
	// Rare path: fold with Unicode rules, then match runes.
	return matchRunes([]rune(strings.ToLower(string(pattern))), []rune(strings.ToLower(string(text))))
}

func isASCII(b []byte) bool {
	for _, c := range b {
		if c >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

func lower(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

func same[T byte | rune](c T) T { return c }

func matchASCII(p, t []byte) bool { return match(p, t, lower) }

func matchRunes(p, t []rune) bool { return match(p, t, same[rune]) }

// match is the SDKs' algorithm over bytes or runes; fold maps a unit to the
// form compared.
func match[T byte | rune](p, t []T, fold func(T) T) bool {
	i, pi := 0, 0
	iStar, pStar := len(t), 0
	for i < len(t) {
		switch {
		case pi < len(p) && (p[pi] == '?' || fold(p[pi]) == fold(t[i])):
			i++
			pi++
		case pi < len(p) && p[pi] == '*':
			iStar, pStar = i, pi
			pi++
		case iStar != len(t):
			iStar++
			i, pi = iStar, pStar+1
		default:
			return false
		}
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}

package naming

import (
	"errors"
	"net/netip"
	"unicode"
	"unicode/utf8"
)

// MaxNameRunes is X-Ray's limit on a segment name.
const MaxNameRunes = 200

// ErrEmptyName says a default name cleans down to nothing.
var ErrEmptyName = errors.New("service name is empty after removing characters X-Ray rejects")

// Clean appends name to dst without the characters X-Ray rejects, cut to
// MaxNameRunes runes. Allowed: Unicode letters and numbers, white space and
// _ . : / % & # = + \ - @ (docs/segments.md, Name rules).
func Clean(dst, name []byte) []byte {
	n := 0
	for i := 0; i < len(name) && n < MaxNameRunes; {
		c := name[i]
		if c < utf8.RuneSelf {
			i++
			if asciiAllowed[c] {
				dst = append(dst, c)
				n++
			}
			continue
		}
		r, size := utf8.DecodeRune(name[i:])
		if r != utf8.RuneError && (unicode.IsLetter(r) || unicode.IsNumber(r) || unicode.IsSpace(r)) {
			dst = append(dst, name[i:i+size]...)
			n++
		}
		i += size
	}
	return dst
}

var asciiAllowed = func() (t [utf8.RuneSelf]bool) {
	for c := range utf8.RuneSelf {
		t[c] = c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
	}
	for _, c := range " \t\n\v\f\r_.:/%&#=+\\-@" {
		t[c] = true
	}
	return t
}()

// Namer names a segment from its request's Host header and the server side
// of its connection (address and port). It appends the name to dst and
// must not keep host.
type Namer interface {
	AppendName(dst, host []byte, server netip.Addr, port uint16) []byte
}

// Fixed names every segment the same.
type Fixed struct{ name []byte }

// NewFixed cleans name once; it fails if nothing is left.
func NewFixed(name string) (*Fixed, error) {
	c := Clean(nil, []byte(name))
	if len(c) == 0 {
		return nil, ErrEmptyName
	}
	return &Fixed{name: c}, nil
}

// AppendName appends the fixed name.
func (f *Fixed) AppendName(dst, _ []byte, _ netip.Addr, _ uint16) []byte {
	return append(dst, f.name...)
}

// String returns the name.
func (f *Fixed) String() string { return string(f.name) }

// Dynamic names a segment after its Host when the Host matches Pattern.
type Dynamic struct {
	pattern  []byte
	fallback Namer
}

// NewDynamic returns a namer using pattern, and fallback for a Host that
// does not match: a Fixed name, or Services, so that such a request takes
// its connection's service name.
func NewDynamic(pattern string, fallback Namer) *Dynamic {
	return &Dynamic{pattern: []byte(pattern), fallback: fallback}
}

// AppendName appends the host when it matches, else the fallback's name. A
// match that cleans down to nothing (a Host of only rejected characters)
// also falls back, since X-Ray drops a segment with an empty name.
func (d *Dynamic) AppendName(dst, host []byte, server netip.Addr, port uint16) []byte {
	if n := len(host); n > 3 && string(host[n-3:]) == ":80" {
		host = host[:n-3]
	}
	if WildcardMatch(d.pattern, host) {
		before := len(dst)
		dst = Clean(dst, host)
		if len(dst) > before {
			return dst
		}
	}
	return d.fallback.AppendName(dst, host, server, port)
}

package naming

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// Service names the requests to one server port, one server address or
// network, or both: the spec of `--service SPEC=NAME` (docs/segments.md,
// Names by service).
type Service struct {
	Prefix netip.Prefix // the server's address or network, masked; zero: any address
	Port   uint16       // the server's port; 0: any port
	Name   string       // cleaned of the characters X-Ray rejects
}

// ParseService reads SPEC=NAME, where SPEC is a port (8080), an address
// (10.0.1.5, 2001:db8::1), a CIDR (10.0.1.0/24), or an address or CIDR with
// a port (10.0.1.5:8080, 10.0.1.0/24:8080, [2001:db8::1]:8080; an IPv6 one
// needs the brackets). A v4-mapped IPv6 address stands for its IPv4
// address. The name is cleaned (Clean) and must keep something.
func ParseService(item string) (Service, error) {
	spec, name, ok := strings.Cut(item, "=")
	if !ok {
		return Service{}, errors.New("want SPEC=NAME, where SPEC is a port, an address or a CIDR, alone or with a port (8080=shop, 10.0.1.0/24=shop, 10.0.1.5:8080=shop)")
	}
	var s Service
	var err error
	if s.Prefix, s.Port, err = parseSpec(strings.TrimSpace(spec)); err != nil {
		return Service{}, err
	}
	// Trimmed after cleaning too, which may leave a space at an end.
	c := bytes.TrimSpace(Clean(nil, []byte(name)))
	if len(c) == 0 {
		return Service{}, fmt.Errorf("name %q is empty after removing characters X-Ray rejects", name)
	}
	s.Name = string(c)
	return s, nil
}

func parseSpec(spec string) (netip.Prefix, uint16, error) {
	switch {
	case spec == "":
		return netip.Prefix{}, 0, errors.New("no port, address or CIDR before the =")
	case isDigits(spec):
		port, err := parsePort(spec)
		return netip.Prefix{}, port, err
	case spec[0] == '[':
		// [address]:port, [CIDR]:port
		end := strings.IndexByte(spec, ']')
		if end < 0 || !strings.HasPrefix(spec[end+1:], ":") {
			return netip.Prefix{}, 0, fmt.Errorf("%q: want [ADDRESS]:PORT", spec)
		}
		return parseAddrPort(spec[1:end], spec[end+2:])
	case strings.Count(spec, ":") == 1:
		// IPv4 with a port; an IPv6 address has at least two colons.
		addr, port, _ := strings.Cut(spec, ":")
		return parseAddrPort(addr, port)
	}
	p, err := parsePrefix(spec)
	return p, 0, err
}

func parseAddrPort(addr, port string) (netip.Prefix, uint16, error) {
	p, err := parsePrefix(addr)
	if err != nil {
		return netip.Prefix{}, 0, err
	}
	n, err := parsePort(port)
	return p, n, err
}

func isDigits(s string) bool {
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

func parsePort(s string) (uint16, error) {
	n, err := strconv.Atoi(s)
	if err != nil || !isDigits(s) || n < 1 || n > 65535 {
		return 0, fmt.Errorf("port %q: want a number from 1 to 65535", s)
	}
	return uint16(n), nil
}

// parsePrefix reads an address or a CIDR into a masked prefix, IPv4 for a
// v4-mapped one.
func parsePrefix(s string) (netip.Prefix, error) {
	var p netip.Prefix
	if strings.Contains(s, "/") {
		var err error
		if p, err = netip.ParsePrefix(s); err != nil {
			return p, fmt.Errorf("%q is not an address or a CIDR", s)
		}
		if m := p.Masked(); m != p {
			return p, fmt.Errorf("%s has bits set past its /%d: did you mean %s?", s, p.Bits(), m)
		}
	} else {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return p, fmt.Errorf("%q is not an address or a CIDR", s)
		}
		if a.Zone() != "" {
			return p, fmt.Errorf("%s: an address with a zone cannot name a server; leave out %%%s", s, a.Zone())
		}
		p = netip.PrefixFrom(a, a.BitLen())
	}
	if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
		p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
	}
	return p, nil
}

// Spec is the canonical form of s's spec: two services with the same spec
// name the same requests.
func (s Service) Spec() string {
	var addr string
	if s.Prefix.IsValid() {
		addr = s.Prefix.String()
		if s.Prefix.IsSingleIP() {
			addr = s.Prefix.Addr().String()
		}
	}
	port := strconv.Itoa(int(s.Port))
	switch {
	case addr == "":
		return port
	case s.Port == 0:
		return addr
	case s.Prefix.Addr().Is6():
		return "[" + addr + "]:" + port
	}
	return addr + ":" + port
}

// String is SPEC=NAME, with the canonical spec.
func (s Service) String() string { return s.Spec() + "=" + s.Name }

// Services names a request after the server side of its connection: the
// most specific Service that covers it wins (an address or network with
// the port, the longest prefix first; then an address or network alone,
// the longest first; then the port alone), and the fallback names the
// rest.
type Services struct {
	names    [][]byte
	byPrefix map[prefixPort]int32
	// Distinct prefix lengths, longest first, by family (IPv4, IPv6) and
	// by whether the entries give a port: a lookup tries one map key per
	// length, so tens of entries cost a handful of lookups.
	lens     [2][2][]uint8
	byPort   map[uint16]int32
	fallback *Fixed
}

type prefixPort struct {
	prefix netip.Prefix
	port   uint16
}

// NewServices builds the table. A spec given twice keeps its first entry
// (ParseService's callers refuse duplicates). fallback names what no entry
// covers; it may be nil only when every server port has an entry of its
// own, since a miss then names nothing, which X-Ray would drop.
func NewServices(list []Service, fallback *Fixed) *Services {
	s := &Services{byPrefix: map[prefixPort]int32{}, byPort: map[uint16]int32{}, fallback: fallback}
	for _, e := range list {
		i := int32(len(s.names))
		if !e.Prefix.IsValid() {
			if _, dup := s.byPort[e.Port]; !dup {
				s.byPort[e.Port] = i
				s.names = append(s.names, []byte(e.Name))
			}
			continue
		}
		k := prefixPort{e.Prefix.Masked(), e.Port}
		if _, dup := s.byPrefix[k]; dup {
			continue
		}
		s.byPrefix[k] = i
		s.names = append(s.names, []byte(e.Name))
		fam, withPort := family(k.prefix.Addr()), 0
		if e.Port != 0 {
			withPort = 1
		}
		if b := uint8(k.prefix.Bits()); !slices.Contains(s.lens[fam][withPort], b) {
			s.lens[fam][withPort] = append(s.lens[fam][withPort], b)
		}
	}
	for f := range s.lens {
		for w := range s.lens[f] {
			slices.SortFunc(s.lens[f][w], func(a, b uint8) int { return int(b) - int(a) })
		}
	}
	return s
}

func family(a netip.Addr) int {
	if a.Is4() {
		return 0
	}
	return 1
}

// AppendName appends the name of the service that covers server and port,
// else the fallback's.
func (s *Services) AppendName(dst, host []byte, server netip.Addr, port uint16) []byte {
	if i := s.lookup(server, port); i >= 0 {
		return append(dst, s.names[i]...)
	}
	if s.fallback == nil {
		return dst
	}
	return s.fallback.AppendName(dst, host, server, port)
}

func (s *Services) lookup(server netip.Addr, port uint16) int32 {
	if server = server.Unmap(); server.IsValid() {
		lens := &s.lens[family(server)]
		for _, b := range lens[1] {
			p, _ := server.Prefix(int(b))
			if i, ok := s.byPrefix[prefixPort{p, port}]; ok {
				return i
			}
		}
		for _, b := range lens[0] {
			p, _ := server.Prefix(int(b))
			if i, ok := s.byPrefix[prefixPort{p, 0}]; ok {
				return i
			}
		}
	}
	if i, ok := s.byPort[port]; ok {
		return i
	}
	return -1
}

package naming

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
)

func mustServices(t testing.TB, fallback string, items ...string) *Services {
	t.Helper()
	var list []Service
	for _, it := range items {
		s, err := ParseService(it)
		if err != nil {
			t.Fatalf("ParseService(%q): %v", it, err)
		}
		list = append(list, s)
	}
	var fb *Fixed
	if fallback != "" {
		var err error
		if fb, err = NewFixed(fallback); err != nil {
			t.Fatal(err)
		}
	}
	return NewServices(list, fb)
}

func name(n Namer, server string, port uint16) string {
	var a netip.Addr
	if server != "" {
		a = netip.MustParseAddr(server)
	}
	return string(n.AppendName(nil, []byte("host.example"), a, port))
}

// TestServicesPrecedence: the most specific entry wins: an address with
// the port, the longest prefix with the port, an address or prefix alone
// (longest first), the port alone, then the fallback.
func TestServicesPrecedence(t *testing.T) {
	s := mustServices(t, "default",
		"8080=port-8080",
		"9090=port-9090",
		"10.0.0.0/8=net8",
		"10.0.1.0/24=net24",
		"10.0.1.5=addr",
		"10.0.0.0/8:8080=net8-8080",
		"10.0.1.0/24:8080=net24-8080",
		"10.0.1.5:8080=addr-8080",
		"2001:db8::/32=v6net",
		"2001:db8::1=v6addr",
		"[2001:db8::/48]:8080=v6net-8080",
		"[2001:db8::1]:8080=v6addr-8080",
	)
	for _, tt := range []struct {
		server string
		port   uint16
		want   string
	}{
		{"10.0.1.5", 8080, "addr-8080"},
		{"10.0.1.6", 8080, "net24-8080"},
		{"10.9.9.9", 8080, "net8-8080"},
		{"10.0.1.5", 9090, "addr"}, // an address alone beats the port alone
		{"10.0.1.6", 9090, "net24"},
		{"10.9.9.9", 9090, "net8"},
		{"10.0.1.5", 7070, "addr"},
		{"192.0.2.1", 8080, "port-8080"},
		{"192.0.2.1", 9090, "port-9090"},
		{"192.0.2.1", 7070, "default"},
		{"", 8080, "port-8080"}, // no address known: the port decides
		{"2001:db8::1", 8080, "v6addr-8080"},
		{"2001:db8::2", 8080, "v6net-8080"},
		{"2001:db8:1::2", 8080, "v6net"}, // outside the /48: the /32 alone beats the port
		{"2001:db8::1", 9090, "v6addr"},
		{"2001:db9::1", 8080, "port-8080"},
		{"2001:db9::1", 7070, "default"},
		// v4-mapped addresses stand for their IPv4 address, both ways.
		{"::ffff:10.0.1.5", 8080, "addr-8080"},
		{"::ffff:10.9.9.9", 7070, "net8"},
		// An IPv4 network does not cover IPv6 addresses, nor the reverse.
		{"::a00:105", 7070, "default"},
	} {
		if got := name(s, tt.server, tt.port); got != tt.want {
			t.Errorf("%s port %d: got %q, want %q", tt.server, tt.port, got, tt.want)
		}
	}
	m := mustServices(t, "default", "::ffff:10.0.1.0/120=mapped-net", "[::ffff:192.0.2.1]:80=mapped-addr")
	for _, tt := range []struct {
		server string
		port   uint16
		want   string
	}{
		{"10.0.1.9", 80, "mapped-net"}, {"::ffff:10.0.1.9", 80, "mapped-net"}, {"192.0.2.1", 80, "mapped-addr"}, {"192.0.2.1", 81, "default"},
	} {
		if got := name(m, tt.server, tt.port); got != tt.want {
			t.Errorf("mapped specs, %s port %d: got %q, want %q", tt.server, tt.port, got, tt.want)
		}
	}
}

func TestServicesWithoutFallback(t *testing.T) {
	s := mustServices(t, "", "8080=shop")
	if got := name(s, "192.0.2.1", 8080); got != "shop" {
		t.Errorf("got %q", got)
	}
	if got := name(s, "192.0.2.1", 9090); got != "" {
		t.Errorf("a miss without a fallback named %q", got)
	}
}

// TestDynamicFallsBackToService: a Host that does not match takes the
// connection's service name, not the global default.
func TestDynamicFallsBackToService(t *testing.T) {
	d := NewDynamic("*.example.com", mustServices(t, "default", "8080=shop", "9090=cart"))
	a := netip.MustParseAddr("192.0.2.1")
	for _, tt := range []struct {
		host string
		port uint16
		want string
	}{
		{"api.example.com", 8080, "api.example.com"},
		{"evil.attacker.net", 8080, "shop"},
		{"", 9090, "cart"},
		{"", 7070, "default"},
	} {
		if got := string(d.AppendName(nil, []byte(tt.host), a, tt.port)); got != tt.want {
			t.Errorf("host %q port %d: got %q, want %q", tt.host, tt.port, got, tt.want)
		}
	}
}

func TestParseService(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"8080=shop", "8080=shop"},
		{" 8080 = shop ", "8080=shop"},
		{"10.0.1.5=shop", "10.0.1.5=shop"},
		{"10.0.1.5/32=shop", "10.0.1.5=shop"},
		{"10.0.1.0/24=shop", "10.0.1.0/24=shop"},
		{"10.0.1.5:8080=shop", "10.0.1.5:8080=shop"},
		{"10.0.1.0/24:8080=shop", "10.0.1.0/24:8080=shop"},
		{"2001:DB8:0::1=shop", "2001:db8::1=shop"},
		{"2001:db8::/32=shop", "2001:db8::/32=shop"},
		{"[2001:db8::1]:8080=shop", "[2001:db8::1]:8080=shop"},
		{"[2001:db8::/32]:8080=shop", "[2001:db8::/32]:8080=shop"},
		{"[10.0.1.5]:8080=shop", "10.0.1.5:8080=shop"},
		{"::ffff:10.0.1.5=shop", "10.0.1.5=shop"},
		{"::ffff:10.0.0.0/104=shop", "10.0.0.0/8=shop"},
		{"8080=my shop (eu)!", "8080=my shop eu"},
		{"8080=a=b", "8080=a=b"},
		{"0.0.0.0/0=any4", "0.0.0.0/0=any4"},
	} {
		s, err := ParseService(tt.in)
		if err != nil {
			t.Errorf("ParseService(%q): %v", tt.in, err)
			continue
		}
		if s.String() != tt.want {
			t.Errorf("ParseService(%q) = %q, want %q", tt.in, s, tt.want)
		}
		// The canonical form reads back the same.
		if again, err := ParseService(s.String()); err != nil || again != s {
			t.Errorf("%q does not read back: %v, %v", s, again, err)
		}
	}
}

func TestParseServiceErrors(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"8080", "want SPEC=NAME"},
		{"shop", "want SPEC=NAME"},
		{"=shop", "no port, address or CIDR before the ="},
		{"0=shop", `port "0": want a number from 1 to 65535`},
		{"65536=shop", `port "65536": want a number from 1 to 65535`},
		{"10.0.1.5:0=shop", `port "0"`},
		{"10.0.1.5:=shop", `port ""`},
		{"10.0.1.5:http=shop", `port "http"`},
		{"10.0.1.5:-1=shop", `port "-1"`},
		{"[2001:db8::1]:99999=shop", `port "99999"`},
		{"[2001:db8::1]=shop", "want [ADDRESS]:PORT"},
		{"[2001:db8::1:8080=shop", "want [ADDRESS]:PORT"},
		{"10.0.1.256=shop", `"10.0.1.256" is not an address or a CIDR`},
		{"shop.example=shop", `"shop.example" is not an address or a CIDR`},
		{"10.0.1.0/33=shop", `"10.0.1.0/33" is not an address or a CIDR`},
		{"10.0.1.5/24=shop", "10.0.1.5/24 has bits set past its /24: did you mean 10.0.1.0/24?"},
		{"fe80::1%eth0=shop", "leave out %eth0"},
		{"8080=", `name "" is empty after removing characters X-Ray rejects`},
		{"8080=<>", `name "<>" is empty`},
	} {
		_, err := ParseService(tt.in)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseService(%q): error %v, want %q", tt.in, err, tt.want)
		}
	}
}

// TestServicesDuplicateKeepsFirst: NewServices trusts its callers to refuse
// duplicates, and keeps the first entry of a spec.
func TestServicesDuplicateKeepsFirst(t *testing.T) {
	s := mustServices(t, "d", "8080=a", "8080=b", "10.0.0.1=c", "10.0.0.1/32=e")
	if got := name(s, "192.0.2.1", 8080) + " " + name(s, "10.0.0.1", 1); got != "a c" {
		t.Errorf("got %q", got)
	}
}

// TestServicesDoesNotAlloc: a lookup through tens of entries of several
// prefix lengths, behind dynamic naming, allocates nothing.
func TestServicesDoesNotAlloc(t *testing.T) {
	var items []string
	for i := range 40 {
		items = append(items, fmt.Sprintf("10.%d.0.0/%d:80=svc%d", i, 16+i%8, i), fmt.Sprintf("2001:db8:%x::/%d=v6-%d", i, 48+i%5, i))
	}
	items = append(items, "80=web", "8080=shop")
	d := NewDynamic("*.example.com", mustServices(t, "default", items...))
	dst := make([]byte, 0, 256)
	host := []byte("other.host")
	for _, a := range []netip.Addr{netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("10.3.0.1"), netip.MustParseAddr("2001:db8:3::1"), netip.MustParseAddr("::ffff:10.3.0.1")} {
		if n := testing.AllocsPerRun(100, func() { dst = d.AppendName(dst[:0], host, a, 80) }); n != 0 {
			t.Errorf("%s: AppendName allocates %.1f times", a, n)
		}
	}
}

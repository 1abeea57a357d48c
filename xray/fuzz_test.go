package xray

import "testing"

// FuzzTraceHeader: any header parses without panicking, and what it keeps
// is well-formed.
func FuzzTraceHeader(f *testing.F) {
	for _, s := range []string{
		"Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
		"Root=1-5759e988-bd862e3fe1be46a994272793; Parent=53995c3f42cd8ad8; Sampled=1;",
		"Sampled=?;Root=0-57ff426a;Parent=foo;Self=2;Foo=bar=baz", ";;;=;", "",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, h []byte) {
		th := ParseTraceHeader(h)
		if th.Root != nil && !validTraceID(th.Root) || th.Parent != nil && !isHex(th.Parent, 16) {
			t.Fatalf("kept a malformed id: %+v", th)
		}
		if th.Sampled < -1 || th.Sampled > 1 {
			t.Fatalf("sampled %d", th.Sampled)
		}
	})
}

package reassembly

import (
	"testing"
	"time"
)

// collect pushes segments and returns what comes out, as text with gaps
// written "<gap N>" and the end as "<fin>".
type seg struct {
	seq         uint32
	data        string
	wire        int // 0: len(data)
	syn, fin    bool
	ackedByPeer uint32 // if set, AckedTo is called before the segment
}

func run(b *Budget, segs []seg, flush bool) string {
	var s Stream
	s.Init(b)
	out := ""
	emit := func(c Chunk) {
		if c.Gap > 0 {
			out += "<gap " + itoa(c.Gap) + ">"
		}
		out += string(c.Data)
		if c.FIN {
			out += "<fin>"
		}
	}
	drain := func() {
		for c, ok := s.Next(); ok; c, ok = s.Next() {
			emit(c)
		}
	}
	for _, g := range segs {
		if g.ackedByPeer != 0 {
			s.AckedTo(g.ackedByPeer)
		}
		wire := g.wire
		if wire == 0 {
			wire = len(g.data)
		}
		if c, ok := s.Push(g.seq, g.syn, g.fin, []byte(g.data), wire, 0, time.Time{}); ok {
			emit(c)
		}
		drain()
	}
	if flush {
		for s.SkipHole() {
			drain()
		}
	}
	return out
}

func itoa(n int64) string {
	if n == 0 {
		return "0"
	}
	s := ""
	for n > 0 {
		s = string(rune('0'+n%10)) + s
		n /= 10
	}
	return s
}

func TestStream(t *testing.T) {
	for _, tc := range []struct {
		name  string
		segs  []seg
		flush bool
		want  string
	}{
		{"in order", []seg{{seq: 99, syn: true}, {seq: 100, data: "abc"}, {seq: 103, data: "def", fin: true}}, false, "abcdef<fin>"},
		{"reordered", []seg{{seq: 99, syn: true}, {seq: 103, data: "def"}, {seq: 100, data: "abc"}}, false, "abcdef"},
		{"retransmission and overlap", []seg{{seq: 99, syn: true}, {seq: 100, data: "abc"}, {seq: 100, data: "abc"}, {seq: 102, data: "cde"}}, false, "abcde"},
		{"duplicate out of order", []seg{{seq: 99, syn: true}, {seq: 103, data: "d"}, {seq: 103, data: "d"}, {seq: 100, data: "abc"}}, false, "abcd"},
		{"hole flushed at the end", []seg{{seq: 99, syn: true}, {seq: 100, data: "ab"}, {seq: 105, data: "fg"}}, true, "ab<gap 3>fg"},
		{"hole acknowledged by the peer waits", []seg{{seq: 99, syn: true}, {seq: 100, data: "ab"}, {seq: 110, data: "x", ackedByPeer: 110}}, false, "ab"},
		{"acknowledged hole filled late", []seg{{seq: 99, syn: true}, {seq: 100, data: "ab", ackedByPeer: 104}, {seq: 104, data: "x"}, {seq: 102, data: "cd"}}, false, "abcdx"},
		{"ack of one is a fin, not data", []seg{{seq: 99, syn: true}, {seq: 100, data: "ab"}, {seq: 102, data: "c", ackedByPeer: 103}}, false, "abc"},
		{"mid-stream pickup", []seg{{seq: 5000, data: "xyz"}, {seq: 5003, data: "w"}}, false, "xyzw"},
		{"snap length cut", []seg{{seq: 99, syn: true}, {seq: 100, data: "ab", wire: 5}, {seq: 105, data: "z"}}, false, "ab<gap 3>z"},
		{"fin after a hole", []seg{{seq: 99, syn: true}, {seq: 100, data: "a"}, {seq: 103, data: "d", fin: true}}, true, "a<gap 2>d<fin>"},
		{"sequence wrap", []seg{{seq: 0xfffffffe, syn: true}, {seq: 0xffffffff, data: "ab"}, {seq: 1, data: "cd"}}, false, "abcd"},
		{"nothing after fin", []seg{{seq: 99, syn: true}, {seq: 100, data: "a", fin: true}, {seq: 102, data: "zz"}}, false, "a<fin>"},
	} {
		if got := run(DefaultBudget(), tc.segs, tc.flush); got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestBudgetOverflowGivesUpTheHole(t *testing.T) {
	b := &Budget{MaxBytes: 1 << 20, MaxBytesPerStream: 4, MaxSegments: 100}
	got := run(b, []seg{{seq: 99, syn: true}, {seq: 100, data: "a"}, {seq: 110, data: "bcd"}, {seq: 113, data: "ef"}}, false)
	if got != "a<gap 9>bcdef" {
		t.Errorf("got %q", got)
	}
	if b.Overflows != 1 || b.used != 0 {
		t.Errorf("overflows %d, bytes still held %d", b.Overflows, b.used)
	}
}

// TestHoleAges: a hole is declared lost only past its bounds, in capture
// time or in packets, never merely because the peer acknowledged it.
func TestHoleAges(t *testing.T) {
	t0 := time.Unix(1700000000, 0)
	for _, tc := range []struct {
		name    string
		steps   []time.Duration // capture time of each packet after the hole
		want    HoleVerdict
		buffer  bool // data buffered after the hole, or only the peer's ACK
		maxPkts int
	}{
		{"young", []time.Duration{time.Millisecond, 5 * time.Millisecond}, HoleWaiting, true, 128},
		{"old", []time.Duration{time.Millisecond, 250 * time.Millisecond}, HoleAged, true, 128},
		{"many packets", []time.Duration{1, 2, 3, 4}, HolePackets, true, 3},
		{"tail acknowledged only", []time.Duration{time.Millisecond, 300 * time.Millisecond}, HoleAged, false, 128},
	} {
		b := DefaultBudget()
		b.MaxHolePackets = tc.maxPkts
		var s Stream
		s.Init(b)
		s.Push(99, true, false, nil, 0, 0, t0)
		s.Push(100, false, false, []byte("ab"), 2, 0, t0)
		if tc.buffer {
			s.Push(110, false, false, []byte("x"), 1, 0, t0)
		}
		s.AckedTo(111)
		var v HoleVerdict
		for _, d := range tc.steps {
			v = s.Age(t0.Add(d), true)
		}
		if v != tc.want {
			t.Errorf("%s: verdict %d, want %d", tc.name, v, tc.want)
			continue
		}
		if v < HoleAged {
			continue
		}
		s.DeclareLost(v)
		c, ok := s.Next()
		wantGap, wantData := int64(8), "x"
		if !tc.buffer {
			wantGap, wantData = 9, ""
		}
		if !ok || c.Gap != wantGap || string(c.Data) != wantData {
			t.Errorf("%s: after declaring: %+v %v, want gap %d then %q", tc.name, c, ok, wantGap, wantData)
		}
		if s.Hole() {
			t.Errorf("%s: still a hole", tc.name)
		}
	}
}

// TestGateHoldsUntilPeer: a segment that acknowledges peer bytes not yet
// delivered waits, in order, until the gate moves past its ACK.
func TestGateHoldsUntilPeer(t *testing.T) {
	b := DefaultBudget()
	var s Stream
	s.Init(b)
	s.Push(99, true, false, nil, 0, 0, time.Time{})
	s.Gate(500)
	if _, ok := s.Push(100, false, false, []byte("ab"), 2, 500, time.Time{}); !ok {
		t.Fatal("a segment within the gate was held")
	}
	if _, ok := s.Push(102, false, false, []byte("cd"), 2, 510, time.Time{}); ok {
		t.Fatal("a segment past the gate was delivered")
	}
	if _, ok := s.Push(104, false, false, []byte("ef"), 2, 500, time.Time{}); ok {
		t.Fatal("a segment overtook one held at the gate")
	}
	if _, ok := s.Next(); ok {
		t.Fatal("Next released a held segment before the gate moved")
	}
	s.Gate(510)
	got := ""
	for c, ok := s.Next(); ok; c, ok = s.Next() {
		got += string(c.Data)
	}
	if got != "cdef" || b.Held != 1 {
		t.Errorf("released %q (held %d), want cdef (1)", got, b.Held)
	}
}

func TestInOrderDoesNotAlloc(t *testing.T) {
	var s Stream
	s.Init(DefaultBudget())
	s.Push(0, true, false, nil, 0, 0, time.Time{})
	payload := []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	seq := uint32(1)
	n := testing.AllocsPerRun(1000, func() {
		s.Push(seq, false, false, payload, len(payload), 0, time.Time{})
		s.Next()
		seq += uint32(len(payload))
	})
	if n != 0 {
		t.Errorf("in-order Push allocates %.1f times", n)
	}
}

// BenchmarkStreamInOrder pushes full-size in-order segments and takes each
// back out: the reassembly cost of a bulk transfer.
func BenchmarkStreamInOrder(b *testing.B) {
	var s Stream
	s.Init(DefaultBudget())
	s.Push(0, true, false, nil, 0, 0, time.Time{})
	payload := make([]byte, 1448)
	seq := uint32(1)
	b.ReportAllocs()
	b.SetBytes(int64(len(payload)))
	for b.Loop() {
		s.Push(seq, false, false, payload, len(payload), 0, time.Time{})
		s.Next()
		seq += uint32(len(payload))
	}
}

package xray

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"
)

// edgeStrings are the strings that have made or could make an encoder
// go wrong: empty, every kind of escape, 0x7f, non-ASCII, invalid and
// truncated UTF-8, and lengths around the 8-byte words of a fast scan.
var edgeStrings = []string{
	"", "a", "GET", "shop", "203.0.113.7", "2001:db8::1",
	"http://shop.example/api/items?id=7&q=%22x%22",
	"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36",
	`"`, `\`, `a"b\c`, "\x00", "\x01\x1f", "\t\n\r", "\b\f", "\x7f", "abcdefg\x7f", "abcdefgh\x7f",
	"\x80", "\xff", "\xc3", "\xc3\xa9", "caf\xc3\xa9", "\xe2\x82", "\xe2\x82\xac", "\xf0\x9f\x98\x80", "\xf0\x9f\x98",
	"\xed\xa0\x80", "\xc0\xaf", "\xef\xbf\xbd", "\u2028\u2029", "<>&", "0123456", "01234567", "012345678",
	"0123456789abcde\"", "0123456789abcdef\\", "0123456789abcdef0123456\x1f", "x\xffy\xfe", "/path/ü/\xe9/",
	"        ", "~~~~~~~~~", "!!!!!!!!\"", "\x20\x21\x7e", "]]]]]]]]\\",
}

var edgeTimes = []time.Time{
	time.Unix(0, 0), time.Unix(1700000000, 123456789), time.Unix(1700000000, 0), time.Unix(1700000001, 5000),
	time.Unix(999_999_999, 999_999_999), time.Unix(1_000_000_000, 0), time.Unix(9_999_999_999, 999_999_000),
	time.Unix(10_000_000_000, 0), time.Unix(1_765_161_234, 567_890_123), time.Unix(-1, 0), time.Unix(-1, 1),
	time.Unix(0, -1), time.Unix(-1_700_000_000, 123_456_000), time.Unix(99_999_999_999, 1), time.Unix(1e15, 7000),
	time.Unix(int64(math.MaxInt64)/1e6, 0), time.Unix(int64(math.MinInt64)/1e6, 0), time.Unix(math.MaxInt64, 999_999_999),
	time.Unix(math.MinInt64, 0), {}, time.Date(2286, 11, 20, 17, 46, 39, 999_999_000, time.UTC),
	time.Date(2286, 11, 20, 17, 46, 40, 0, time.UTC), time.Date(2001, 9, 9, 1, 46, 40, 0, time.UTC),
	time.Date(2001, 9, 9, 1, 46, 39, 999_999_999, time.FixedZone("x", 3600)),
}

var edgeInts = []int64{0, 1, 9, 10, 99, 100, 200, 204, 304, 429, 500, 599, 999, 1000, 65535, -1, -2, -100,
	math.MaxInt32, math.MinInt32, math.MaxInt64, math.MinInt64, 1e9, 1e18, 12345678901}

// randomSegment fills every field from the edge tables, random bytes, or
// random times, so that each branch of the encoder is taken with each
// neighbour.
func randomSegment(r *rand.Rand) *Segment {
	str := func() []byte {
		switch r.IntN(4) {
		case 0:
			return nil
		case 1:
			b := make([]byte, r.IntN(90))
			for i := range b {
				b[i] = byte(r.Uint32())
				if r.IntN(3) != 0 {
					b[i] = ' ' + b[i]%95
				}
			}
			return b
		default:
			return []byte(edgeStrings[r.IntN(len(edgeStrings))])
		}
	}
	tm := func() time.Time {
		switch r.IntN(3) {
		case 0:
			return edgeTimes[r.IntN(len(edgeTimes))]
		case 1:
			return time.Unix(r.Int64N(2e10)-5e9, r.Int64N(1e9))
		default:
			return time.Unix(1e9+r.Int64N(9e9), r.Int64N(1e9))
		}
	}
	num := func() int64 {
		if r.IntN(2) == 0 {
			return edgeInts[r.IntN(len(edgeInts))]
		}
		return r.Int64N(2e6) - 1e3
	}
	s := &Segment{
		Name: str(), ParentID: str(), Start: tm(), End: tm(),
		InProgress: r.IntN(4) == 0, Method: str(), URL: str(), UserAgent: str(), ClientIP: str(),
		HasUserAgent: r.IntN(2) == 0, XForwardedFor: r.IntN(2) == 0, HasResponse: r.IntN(4) != 0,
		Status: int(num()), ContentLength: num(), Error: r.IntN(2) == 0, Throttle: r.IntN(2) == 0, Fault: r.IntN(2) == 0,
		Origin: string(str()), SDKVersion: string(str()), SamplingRule: string(str()),
		Outcome: string(str()), CaptureGap: r.IntN(2) == 0, Resync: r.IntN(2) == 0, Tunnelled: r.IntN(2) == 0,
		StatusLine: string(str()), TraceState: str(), Peer: netip.MustParseAddrPort("192.0.2.1:80"),
	}
	if r.IntN(2) == 0 {
		s.AWS = []byte(`"ec2":{"instance_id":"i-1"}`)
	}
	if r.IntN(2) == 0 {
		s.Resource = []byte(`"eks":{"pod":"p"}`)
	}
	for i := range s.ID {
		s.ID[i] = byte(r.Uint32())
	}
	for i := range s.TraceID {
		s.TraceID[i] = byte(r.Uint32())
	}
	return s
}

// checkSame encodes s both ways, into an empty buffer and after a prefix
// in a buffer with and without spare room, and fails on any difference.
func checkSame(t *testing.T, s *Segment) {
	t.Helper()
	want := refAppendJSON(s, []byte("prefix"))
	for _, dst := range [][]byte{[]byte("prefix"), append(make([]byte, 0, 4096), "prefix"...), append(make([]byte, 0, 7), "prefix"...)} {
		if got := s.AppendJSON(dst); !bytes.Equal(got, want) {
			t.Fatalf("AppendJSON differs from the reference for %+v\n got %q\nwant %q", s, got, want)
		}
	}
}

// TestAppendJSONMatchesReference holds AppendJSON to the reference encoder
// over many generated segments and over each edge value in each field.
func TestAppendJSONMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 50000 {
		checkSame(t, randomSegment(r))
	}
	base := *randomSegment(r)
	base.InProgress = false
	base.HasResponse = true
	// ParentID and the ids are written as they are (they are hex by
	// construction), so the JSON validity check below needs them sane.
	base.ParentID = []byte("53995c3f42cd8ad8")
	copy(base.ID[:], "0123456789abcdef")
	copy(base.TraceID[:], "1-5759e988-bd862e3fe1be46a994272793")
	base.Start, base.End = time.Unix(1700000000, 1000), time.Unix(1700000001, 0)
	base.Status, base.ContentLength = 200, 13
	for _, e := range edgeStrings {
		s := base
		b := []byte(e)
		s.Name, s.Method, s.URL, s.UserAgent, s.ClientIP = b, b, b, b, b
		s.Origin, s.SDKVersion, s.SamplingRule, s.Outcome, s.StatusLine = e, e, e, e, e
		checkSame(t, &s)
		// A string whose first special byte sits at each offset of a word.
		for i := range 17 {
			s.URL = append(bytes.Repeat([]byte("x"), i), b...)
			checkSame(t, &s)
		}
	}
	for _, tm := range edgeTimes {
		s := base
		s.Start, s.End = tm, tm
		checkSame(t, &s)
	}
	for _, n := range edgeInts {
		s := base
		s.Status, s.ContentLength = int(n), n
		checkSame(t, &s)
	}
	// Every annotation and flag alone and together.
	for bits := range 1 << 9 {
		s := base
		s.Outcome, s.CaptureGap, s.Resync, s.Tunnelled, s.StatusLine = "", bits&1 != 0, bits&2 != 0, bits&4 != 0, ""
		if bits&8 != 0 {
			s.Outcome = "reset"
		}
		if bits&16 != 0 {
			s.StatusLine = "none"
		}
		s.Error, s.Throttle, s.Fault, s.InProgress = bits&32 != 0, bits&64 != 0, bits&128 != 0, bits&256 != 0
		checkSame(t, &s)
		if b := s.AppendJSON(nil); !json.Valid(b) {
			t.Fatalf("not valid JSON: %s", b)
		}
	}
}

// TestIDsMatchReference holds the id functions to the reference.
func TestIDsMatchReference(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	random := make([]byte, 20)
	for i := range 20000 {
		for j := range random {
			random[j] = byte(r.Uint32())
		}
		if i < 256 {
			for j := range random {
				random[j] = byte(i + j)
			}
		}
		start := time.Unix(r.Int64N(1<<34)-1<<33, 0)
		var got, want Segment
		NewSegmentID(random[:8], &got.ID)
		refNewSegmentID(random[:8], &want.ID)
		NewTraceID(random[8:], start, &got.TraceID)
		refNewTraceID(random[8:], start, &want.TraceID)
		if got.ID != want.ID || got.TraceID != want.TraceID {
			t.Fatalf("ids %q %q, want %q %q", got.ID, got.TraceID, want.ID, want.TraceID)
		}
	}
}

// TestAppendJSONDoesNotAlloc: a segment encoded into a buffer with room
// allocates nothing, escapes and all.
func TestAppendJSONDoesNotAlloc(t *testing.T) {
	s := randomSegment(rand.New(rand.NewPCG(5, 6)))
	s.URL = []byte("http://h/\"q\"\\\x01\xff\xe2\x82\xac")
	buf := make([]byte, 0, 8192)
	if n := testing.AllocsPerRun(100, func() { buf = s.AppendJSON(buf[:0]) }); n != 0 {
		t.Errorf("%v allocations per AppendJSON, want 0", n)
	}
	random := make([]byte, 20)
	if n := testing.AllocsPerRun(100, func() {
		NewSegmentID(random, &s.ID)
		NewTraceID(random[8:], s.Start, &s.TraceID)
	}); n != 0 {
		t.Errorf("%v allocations per id pair, want 0", n)
	}
}

// FuzzAppendJSON: whatever the fields hold, the document is valid JSON and
// the same bytes as the reference encoder's.
func FuzzAppendJSON(f *testing.F) {
	f.Add([]byte("shop"), []byte("http://shop.example/api/items"), []byte("Mozilla/5.0"), "1.2.3", "closed",
		int64(1700000000), int64(123456789), int64(2_000_000), int64(200), int64(13), uint16(0x1ff))
	f.Add([]byte("\x7f\"\\"), []byte("\xff\xe2\x82"), []byte(""), "", "", int64(-1), int64(1), int64(-5), int64(0), int64(-1), uint16(0))
	f.Add([]byte("é"), []byte("\x00\x1f\t"), []byte("\u2028"), "\xc3", "none", int64(1e11), int64(0), int64(0), int64(1000), int64(math.MaxInt64), uint16(0xffff))
	f.Fuzz(func(t *testing.T, name, url, ua []byte, version, outcome string, sec, nsec, dur, status, length int64, flags uint16) {
		s := &Segment{
			Name: name, URL: url, UserAgent: ua, Method: ua, ClientIP: name, ParentID: []byte("53995c3f42cd8ad8"),
			Start: time.Unix(sec, nsec), End: time.Unix(sec, nsec).Add(time.Duration(dur)),
			SDKVersion: version, Outcome: outcome, SamplingRule: version, Origin: outcome, StatusLine: version,
			Status: int(status), ContentLength: length,
			InProgress: flags&1 != 0, HasUserAgent: flags&2 != 0, XForwardedFor: flags&4 != 0, HasResponse: flags&8 != 0,
			Error: flags&16 != 0, Throttle: flags&32 != 0, Fault: flags&64 != 0, CaptureGap: flags&128 != 0,
			Resync: flags&256 != 0, Tunnelled: flags&512 != 0,
		}
		if flags&1024 != 0 {
			s.AWS = []byte(`"ec2":{"instance_id":"i-1"}`)
		}
		if flags&2048 != 0 {
			s.Resource = []byte(`"eks":{"pod":"p"}`)
		}
		copy(s.ID[:], "0123456789abcdef")
		copy(s.TraceID[:], "1-5759e988-bd862e3fe1be46a994272793")
		checkSame(t, s)
		// Times outside the fast range or negative print as the reference
		// does, which need not be JSON; check validity only for those the
		// daemon could be sent.
		if sec >= 0 && sec < 1e10 && s.Start.UnixMicro() >= 0 && s.End.UnixMicro() >= 0 && s.Status >= 0 && s.ContentLength >= -1 {
			if b := s.AppendJSON(nil); !json.Valid(b) {
				t.Fatalf("not valid JSON: %s", b)
			}
		}
	})
}

// TestMaxFixed: with every flag, annotation and key, the longest times
// and integers, and one-byte strings, the document fits in maxFixed, so
// the reservation at the top of AppendJSON is enough for any segment
// whose strings need no escapes.
func TestMaxFixed(t *testing.T) {
	most := 0
	for _, tm := range edgeTimes {
		for _, n := range edgeInts {
			s := Segment{HasUserAgent: true, XForwardedFor: true, HasResponse: true, Status: int(n), ContentLength: n,
				Error: true, Throttle: true, Fault: true, CaptureGap: true, Resync: true, Tunnelled: true,
				Start: tm, End: tm, AWS: []byte("a"), Resource: []byte("r"), ParentID: []byte("p")}
			s.Origin, s.SDKVersion, s.SamplingRule, s.Outcome, s.StatusLine = " ", " ", " ", " ", " "
			plain := len(s.AWS) + len(s.Resource) + len(s.ParentID) + 5
			most = max(most, len(refAppendJSON(&s, nil))-plain)
		}
	}
	if most > maxFixed {
		t.Fatalf("%d fixed bytes, more than maxFixed %d", most, maxFixed)
	}
	t.Logf("at most %d fixed bytes", most)
}

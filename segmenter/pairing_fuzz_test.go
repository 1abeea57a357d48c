package segmenter

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xray-capture/xray-capture/capture"
)

// The property tests of pairing: generated connections whose every
// response names its request (status 2xx, one code per request), captured
// with random loss, duplication and reordering, must never give a segment
// whose status belongs to another request, nor an unanswered outcome to a
// request the server answered.

// answerStatuses are the codes a generated response can carry: 2xx codes
// that allow a body, so that the code alone names the request.
var answerStatuses = func() []int {
	var s []int
	for code := 200; code < 300; code++ {
		if code != 204 && code != 205 {
			s = append(s, code)
		}
	}
	return s
}()

// schedule is one capture: packets in the order the wire carried them, and
// what really happened.
type schedule struct {
	packets  []capture.Packet
	answered map[string]bool // request path → the server sent a response
	requests int
}

// damage says how the capture mangles a schedule.
type damage struct {
	dropPermille, dupPermille, reorderPermille int
	reorderWindow                              int
	crossDirection                             bool // reorder between the two directions too
}

// genConn appends one connection's packets to s, starting at ts.
func genConn(rng *rand.Rand, s *schedule, id int, port uint16, ts time.Time) {
	cseq, sseq := rng.Uint32(), rng.Uint32()
	var pkts []capture.Packet
	tick := func() time.Time { ts = ts.Add(time.Duration(50+rng.IntN(500)) * time.Microsecond); return ts }
	add := func(fromClient bool, seq, ack uint32, data string, flags uint8) {
		p := capture.Packet{Timestamp: tick(), Flags: flags, Payload: []byte(data), PayloadLen: len(data), Seq: seq, Ack: ack}
		if fromClient {
			p.SrcIP, p.DstIP, p.SrcPort, p.DstPort = clientIP, serverIP, port, 80
		} else {
			p.SrcIP, p.DstIP, p.SrcPort, p.DstPort = serverIP, clientIP, 80, port
		}
		pkts = append(pkts, p)
	}
	// send splits data into 1–3 packets.
	send := func(fromClient bool, seq *uint32, ack uint32, data string) {
		for len(data) > 0 {
			n := len(data)
			if rng.IntN(3) == 0 && n > 1 {
				n = 1 + rng.IntN(n-1)
			}
			add(fromClient, *seq, ack, data[:n], capture.FlagACK)
			*seq += uint32(n)
			data = data[n:]
		}
	}
	add(true, cseq, 0, "", capture.FlagSYN)
	cseq++
	add(false, sseq, cseq, "", capture.FlagSYN|capture.FlagACK)
	sseq++
	add(true, cseq, sseq, "", capture.FlagACK)

	if rng.IntN(5) == 0 {
		// HTTP/1.0: one request, a response whose body runs to the
		// server's close.
		path := fmt.Sprintf("/c%dr0", id)
		send(true, &cseq, sseq, "GET "+path+" HTTP/1.0\r\n\r\n")
		s.requests++
		s.answered[path] = true
		send(false, &sseq, cseq, "HTTP/1.0 "+strconv.Itoa(answerStatuses[0])+" X\r\n\r\n"+strings.Repeat("b", rng.IntN(40)))
		add(false, sseq, cseq, "", capture.FlagFIN|capture.FlagACK)
		sseq++
		add(true, cseq, sseq, "", capture.FlagFIN|capture.FlagACK)
		cseq++
		add(false, sseq, cseq, "", capture.FlagACK)
		s.packets = append(s.packets, pkts...)
		return
	}
	n := 1 + rng.IntN(12)
	pipelined := rng.IntN(3) == 0
	unanswered := 0
	if rng.IntN(4) == 0 {
		unanswered = 1 + rng.IntN(2) // the last requests get no answer
	}
	serverHas := cseq // client bytes the server has received
	for i := 0; i < n; {
		burst := 1
		if pipelined {
			burst = 1 + rng.IntN(4)
		}
		burst = min(burst, n-i)
		var paths []string
		for k := range burst {
			path := fmt.Sprintf("/c%dr%d", id, i+k)
			paths = append(paths, path)
			send(true, &cseq, sseq, "GET "+path+" HTTP/1.1\r\nHost: h\r\n\r\n")
			s.requests++
		}
		serverHas = cseq
		for k, path := range paths {
			if i+k >= n-unanswered {
				continue
			}
			s.answered[path] = true
			code := answerStatuses[(i+k)%len(answerStatuses)]
			body := strings.Repeat("b", (i+k)%7)
			var r string
			if rng.IntN(8) == 0 {
				r = "HTTP/1.1 100 Continue\r\n\r\n"
			}
			if rng.IntN(3) == 0 && body != "" {
				r += "HTTP/1.1 " + strconv.Itoa(code) + " X\r\nTransfer-Encoding: chunked\r\n\r\n" +
					strconv.FormatInt(int64(len(body)), 16) + "\r\n" + body + "\r\n0\r\n\r\n"
			} else {
				r += "HTTP/1.1 " + strconv.Itoa(code) + " X\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body
			}
			send(false, &sseq, serverHas, r)
			if rng.IntN(2) == 0 {
				add(true, cseq, sseq, "", capture.FlagACK) // the client's pure ACK
			}
		}
		i += burst
	}
	switch rng.IntN(4) {
	case 0:
		add(true, cseq, sseq, "", capture.FlagRST)
	case 1:
		add(false, sseq, cseq, "", capture.FlagFIN|capture.FlagACK)
		sseq++
		add(true, cseq, sseq, "", capture.FlagFIN|capture.FlagACK)
		cseq++
		add(false, sseq, cseq, "", capture.FlagACK)
	default:
		// Left open: the end of the input decides.
	}
	s.packets = append(s.packets, pkts...)
}

// genSchedule makes 1–3 connections and interleaves their packets.
func genSchedule(rng *rand.Rand) *schedule {
	s := &schedule{answered: map[string]bool{}}
	start := time.Unix(1700000000, 0)
	nconn := 1 + rng.IntN(3)
	var per [][]capture.Packet
	for id := range nconn {
		one := &schedule{answered: s.answered}
		genConn(rng, one, id, uint16(20000+id), start)
		per = append(per, one.packets)
		s.requests += one.requests
	}
	// Merge by timestamp, as one capture would see them.
	for {
		best := -1
		for i, p := range per {
			if len(p) > 0 && (best < 0 || p[0].Timestamp.Before(per[best][0].Timestamp)) {
				best = i
			}
		}
		if best < 0 {
			return s
		}
		s.packets = append(s.packets, per[best][0])
		per[best] = per[best][1:]
	}
}

// apply returns the packets as a damaged capture saw them, with capture
// timestamps that never step back.
func (d damage) apply(rng *rand.Rand, in []capture.Packet) []capture.Packet {
	var out []capture.Packet
	for _, p := range in {
		if rng.IntN(1000) < d.dropPermille {
			continue
		}
		out = append(out, p)
		if rng.IntN(1000) < d.dupPermille {
			out = append(out, p)
		}
	}
	fromClient := func(p capture.Packet) bool { return p.DstPort == 80 }
	for i := range out {
		if rng.IntN(1000) >= d.reorderPermille || d.reorderWindow == 0 {
			continue
		}
		j := i + 1 + rng.IntN(d.reorderWindow)
		if j >= len(out) || (!d.crossDirection && fromClient(out[i]) != fromClient(out[j])) {
			continue
		}
		out[i], out[j] = out[j], out[i]
	}
	var last time.Time
	for i := range out {
		if out[i].Timestamp.Before(last) {
			out[i].Timestamp = last
		}
		last = out[i].Timestamp
	}
	return out
}

// pairingResult counts what a damaged replay traced.
type pairingResult struct {
	requests, answered, traced, answeredTraced, resynced, inProgress int
}

// runSchedule replays pkts and checks every segment against the truth.
func runSchedule(t testing.TB, s *schedule, pkts []capture.Packet, mode PairingMode) pairingResult {
	t.Helper()
	tr, sink := newTrackerWith(t, func(c *Config) { c.ResponseTimeout, c.Pairing = time.Hour, mode })
	for i := range pkts {
		p := pkts[i]
		handle(t, tr, &p)
	}
	tr.Close(pkts[len(pkts)-1].Timestamp)
	res := pairingResult{requests: s.requests, answered: len(s.answered)}
	seen := map[string]bool{}
	for _, d := range sink.docs {
		h := d["http"].(map[string]any)
		url := h["request"].(map[string]any)["url"].(string)
		path := url[strings.Index(url[7:], "/")+7:]
		if seen[path] {
			t.Fatalf("%s traced twice", path)
		}
		seen[path] = true
		res.traced++
		var id, conn int
		if _, err := fmt.Sscanf(path, "/c%dr%d", &conn, &id); err != nil {
			t.Fatalf("segment for unknown path %q", path)
		}
		r, ok := h["response"].(map[string]any)
		if !ok {
			if d["in_progress"] == true {
				// Not finished when the capture ended: no claim about an
				// answer, so none may be made.
				if d["fault"] != nil || d["annotations"] != nil {
					t.Fatalf("%s in progress with an outcome: %v", path, d)
				}
				res.inProgress++
				continue
			}
			if s.answered[path] {
				t.Fatalf("%s answered by the server, sent as unanswered: %v", path, d["annotations"])
			}
			continue
		}
		res.answeredTraced++
		if a, ok := d["annotations"].(map[string]any); ok && a["pairing"] == "ack-resync" {
			if mode == PairingStrict {
				t.Fatalf("%s paired at an anchor in strict mode", path)
			}
			res.resynced++
		}
		if got, want := int(r["status"].(float64)), answerStatuses[id%len(answerStatuses)]; got != want {
			t.Fatalf("%s paired with the response to another request: status %d, want %d", path, got, want)
		}
	}
	return res
}

func checkSchedule(t testing.TB, seed uint64, d damage, mode PairingMode) pairingResult {
	rng := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	s := genSchedule(rng)
	return runSchedule(t, s, d.apply(rng, s.packets), mode)
}

var damageLevels = map[string]damage{
	"clean":              {},
	"dup+reorder":        {dupPermille: 30, reorderPermille: 80, reorderWindow: 3},
	"cross-reorder":      {reorderPermille: 120, reorderWindow: 3, crossDirection: true},
	"drop 2%":            {dropPermille: 20},
	"drop 5%+reorder":    {dropPermille: 50, dupPermille: 20, reorderPermille: 60, reorderWindow: 4, crossDirection: true},
	"drop 15%+dup+reord": {dropPermille: 150, dupPermille: 50, reorderPermille: 100, reorderWindow: 6, crossDirection: true},
}

// TestPairingNeverMisPairs runs the property over fixed seeds at every
// damage level, and logs how much each level still traces.
func TestPairingNeverMisPairs(t *testing.T) {
	seeds := 400
	if testing.Short() {
		seeds = 50
	}
	for _, mode := range []PairingMode{PairingStrict, PairingResync} {
		for name, d := range damageLevels {
			t.Run(mode.String()+"/"+name, func(t *testing.T) {
				var total pairingResult
				for seed := range uint64(seeds) {
					r := checkSchedule(t, seed, d, mode)
					total.requests += r.requests
					total.answered += r.answered
					total.traced += r.traced
					total.answeredTraced += r.answeredTraced
					total.resynced += r.resynced
					total.inProgress += r.inProgress
				}
				t.Logf("%s %s: %d requests, %d answered; traced %d, of which %d with their response (%d at an anchor), %d in progress at the end",
					mode, name, total.requests, total.answered, total.traced, total.answeredTraced, total.resynced, total.inProgress)
				if name == "clean" && total.answeredTraced != total.answered {
					// Undamaged, every answered request is traced with its answer.
					t.Errorf("clean captures lost requests: %+v", total)
				}
			})
		}
	}
}

// FuzzPairing explores seeds and damage; test/fuzz.sh runs it, bounded.
func FuzzPairing(f *testing.F) {
	f.Add(uint64(1), uint16(20), uint16(30), uint16(80), uint8(3), true)
	f.Add(uint64(2), uint16(0), uint16(0), uint16(200), uint8(5), true)
	f.Add(uint64(3), uint16(150), uint16(50), uint16(0), uint8(0), false)
	f.Fuzz(func(t *testing.T, seed uint64, drop, dup, reorder uint16, window uint8, cross bool) {
		d := damage{dropPermille: int(drop % 400), dupPermille: int(dup % 400), reorderPermille: int(reorder % 600),
			reorderWindow: int(window % 8), crossDirection: cross}
		checkSchedule(t, seed, d, PairingResync)
		checkSchedule(t, seed, d, PairingStrict)
	})
}

package segmenter

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/xray-capture/xray-capture/capture"
	"github.com/xray-capture/xray-capture/naming"
	"github.com/xray-capture/xray-capture/xray"
)

// discardSink encodes each segment as the emitters do, into one buffer.
type discardSink struct {
	buf []byte
	n   int
}

func (d *discardSink) Emit(s *xray.Segment) {
	d.buf = s.AppendJSON(d.buf[:0])
	d.n++
}

// keepAliveFrames builds n GET/200 exchanges on one connection as Ethernet
// frames: request, response, and the client's pure ACK.
func keepAliveFrames(t testing.TB, n int) (handshake [][]byte, exchanges [][3][]byte) {
	const request = "GET /api/items?id=7 HTTP/1.1\r\nHost: shop.example\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64)\r\nX-Forwarded-For: 203.0.113.7\r\nAccept: */*\r\n\r\n"
	const response = "HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Type: application/json\r\nContent-Length: 13\r\n\r\n{\"ok\":true}\r\n"
	return exchangeFrames(t, n, request, response)
}

// exchangeFrames builds n exchanges of the given request and response
// bytes (each sent as one frame) on one connection.
func exchangeFrames(t testing.TB, n int, request, response string) (handshake [][]byte, exchanges [][3][]byte) {
	t.Helper()
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, EthernetType: layers.EthernetTypeIPv4}
	frame := func(fromClient bool, seq, ack uint32, syn bool, payload string) []byte {
		ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolTCP,
			SrcIP: net.IP{192, 0, 2, 2}, DstIP: net.IP{192, 0, 2, 1}}
		tcp := &layers.TCP{SrcPort: 41000, DstPort: 80, Seq: seq, Ack: ack, ACK: !syn || !fromClient, SYN: syn, PSH: payload != "", Window: 512}
		if !fromClient {
			ip.SrcIP, ip.DstIP = ip.DstIP, ip.SrcIP
			tcp.SrcPort, tcp.DstPort = tcp.DstPort, tcp.SrcPort
		}
		tcp.SetNetworkLayerForChecksum(ip)
		buf := gopacket.NewSerializeBuffer()
		if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
			eth, ip, tcp, gopacket.Payload(payload)); err != nil {
			t.Fatal(err)
		}
		return append([]byte(nil), buf.Bytes()...)
	}
	cseq, sseq := uint32(1000), uint32(9000)
	handshake = [][]byte{frame(true, cseq, 0, true, ""), frame(false, sseq, cseq+1, true, "")}
	cseq++
	sseq++
	for range n {
		var ex [3][]byte
		ex[0] = frame(true, cseq, sseq, false, request)
		cseq += uint32(len(request))
		ex[1] = frame(false, sseq, cseq, false, response)
		sseq += uint32(len(response))
		ex[2] = frame(true, cseq, sseq, false, "")
		exchanges = append(exchanges, ex)
	}
	return handshake, exchanges
}

func newBenchTracker(t testing.TB) (*Tracker, *discardSink) {
	fb, _ := naming.NewFixed("fallback")
	sink := &discardSink{buf: make([]byte, 0, 4096)}
	tr, err := New(Config{Ports: []uint16{80}, Namer: naming.NewDynamic("*.example", fb), Sink: sink,
		IDs: xray.NewSeededIDGen(1), SDKVersion: "bench"})
	if err != nil {
		t.Fatal(err)
	}
	return tr, sink
}

// TestInOrderExchangeDoesNotAlloc feeds keep-alive GET/200 exchanges through
// decode, reassembly, parsing, pairing and JSON encoding: once warm, none of
// their packets allocates.
func TestInOrderExchangeDoesNotAlloc(t *testing.T) {
	hs, ex := keepAliveFrames(t, 1200)
	testExchangesDoNotAlloc(t, hs, ex)
}

// TestTraceParentExchangeDoesNotAlloc: a request continuing a W3C trace
// (traceparent and tracestate) costs no allocation either.
func TestTraceParentExchangeDoesNotAlloc(t *testing.T) {
	const request = "GET /api/items HTTP/1.1\r\nHost: shop.example\r\n" +
		"traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\ntracestate: vendor=abc,other=1\r\n\r\n"
	const response = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
	hs, ex := exchangeFrames(t, 1200, request, response)
	testExchangesDoNotAlloc(t, hs, ex)
}

func testExchangesDoNotAlloc(t *testing.T, hs [][]byte, ex [][3][]byte) {
	t.Helper()
	tr, sink := newBenchTracker(t)
	ts := time.Unix(1700000000, 0)
	feed := func(b []byte) {
		ts = ts.Add(100 * time.Microsecond)
		tr.HandleFrame(capture.Frame{Data: b, Timestamp: ts, Length: len(b), LinkType: layers.LinkTypeEthernet})
	}
	for _, f := range hs {
		feed(f)
	}
	i := 0
	exchange := func() {
		for _, f := range ex[i] {
			feed(f)
		}
		i++
	}
	for range 100 {
		exchange()
	}
	if allocs := testing.AllocsPerRun(1000, exchange); allocs != 0 {
		t.Errorf("an in-order keep-alive exchange allocates %.2f times", allocs)
	}
	if sink.n != 1101 {
		t.Errorf("%d segments for 1101 exchanges", sink.n)
	}
}

func BenchmarkTrackerKeepAlive(b *testing.B) {
	hs, ex := keepAliveFrames(b, 20000)
	benchExchanges(b, hs, ex, 1)
}

// benchExchanges feeds one exchange of frames per iteration to a tracker,
// starting a new one (untimed) when the exchanges run out, and reports the
// time per transaction (perExchange of them in each exchange).
func benchExchanges(b *testing.B, handshake [][]byte, exchanges [][3][]byte, perExchange int) {
	b.ReportAllocs()
	ts := time.Unix(1700000000, 0)
	feed := func(tr *Tracker, f []byte) {
		tr.HandleFrame(capture.Frame{Data: f, Timestamp: ts, Length: len(f), LinkType: layers.LinkTypeEthernet})
	}
	var tr *Tracker
	var sink *discardSink
	i := len(exchanges)
	for b.Loop() {
		if i == len(exchanges) {
			b.StopTimer()
			tr, sink = newBenchTracker(b)
			for _, f := range handshake {
				feed(tr, f)
			}
			i = 0
			b.StartTimer()
		}
		for _, f := range exchanges[i] {
			ts = ts.Add(100 * time.Microsecond)
			feed(tr, f)
		}
		i++
	}
	if sink.n == 0 {
		b.Fatal("no segment")
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(perExchange), "ns/transaction")
}

// BenchmarkTrackerPipelined sends four pipelined requests in one frame and
// their four responses in the next: the pairing FIFO at work.
func BenchmarkTrackerPipelined(b *testing.B) {
	const request = "GET /api/items HTTP/1.1\r\nHost: shop.example\r\n\r\n"
	const response = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
	hs, batches := exchangeFrames(b, 5000, strings.Repeat(request, 4), strings.Repeat(response, 4))
	benchExchanges(b, hs, batches, 4)
}

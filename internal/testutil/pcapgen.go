package testutil

import (
	"fmt"
	"net"
	"os"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// Exchange is one request and its response, as written to a synthetic
// capture.
type Exchange struct {
	Request, Response string
}

// WriteKeepAlive writes an Ethernet pcap to path: conns connections to
// 192.0.2.1:80, each with a handshake and then its exchanges in turn
// (request, response, pure ACK), the whole spread evenly over duration from
// start. exchange(c, i) gives the i-th exchange of connection c.
func WriteKeepAlive(t testing.TB, path string, conns, perConn int, start time.Time, duration time.Duration,
	exchange func(c, i int) Exchange) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := pcapgo.NewWriter(f)
	if err := w.WriteFileHeader(262144, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, EthernetType: layers.EthernetTypeIPv4}
	buf := gopacket.NewSerializeBuffer()
	write := func(ts time.Time, c int, fromClient bool, seq, ack uint32, syn bool, payload string) {
		ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolTCP,
			SrcIP: net.IP{192, 0, 2, byte(2 + c/200)}, DstIP: net.IP{192, 0, 2, 1}}
		tcp := &layers.TCP{SrcPort: layers.TCPPort(20000 + c), DstPort: 80, Seq: seq, Ack: ack,
			SYN: syn, ACK: !syn || !fromClient, PSH: payload != "", Window: 4096}
		if !fromClient {
			ip.SrcIP, ip.DstIP = ip.DstIP, ip.SrcIP
			tcp.SrcPort, tcp.DstPort = tcp.DstPort, tcp.SrcPort
		}
		tcp.SetNetworkLayerForChecksum(ip)
		if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
			eth, ip, tcp, gopacket.Payload(payload)); err != nil {
			t.Fatal(err)
		}
		ci := gopacket.CaptureInfo{Timestamp: ts, CaptureLength: len(buf.Bytes()), Length: len(buf.Bytes())}
		if err := w.WritePacket(ci, buf.Bytes()); err != nil {
			t.Fatal(err)
		}
	}
	cseq := make([]uint32, conns)
	sseq := make([]uint32, conns)
	for c := range conns {
		cseq[c], sseq[c] = uint32(1000*c+1), uint32(900000+1000*c)
		write(start, c, true, cseq[c]-1, 0, true, "")
		write(start, c, false, sseq[c]-1, cseq[c], true, "")
	}
	total := conns * perConn
	step := duration / time.Duration(total)
	n := 0
	for i := range perConn {
		for c := range conns {
			ts := start.Add(time.Duration(n) * step)
			n++
			ex := exchange(c, i)
			write(ts, c, true, cseq[c], sseq[c], false, ex.Request)
			cseq[c] += uint32(len(ex.Request))
			// Responses go out in segments of at most 1,400 bytes, as over
			// an Ethernet MTU.
			for off := 0; off < len(ex.Response); off += 1400 {
				part := ex.Response[off:min(off+1400, len(ex.Response))]
				write(ts.Add(step/4+time.Duration(off/1400)*time.Microsecond), c, false, sseq[c], cseq[c], false, part)
				sseq[c] += uint32(len(part))
			}
			write(ts.Add(step/2), c, true, cseq[c], sseq[c], false, "")
		}
	}
	if n != total {
		panic(fmt.Sprint(n, total))
	}
}

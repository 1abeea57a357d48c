package capture

import (
	"errors"

	"golang.org/x/net/bpf"
)

// Offsets of the kernel's classic-BPF extensions (linux/filter.h).
const (
	skfAdOff     = -0x1000
	skfAdPktType = skfAdOff + 4
	skfAdIfIndex = skfAdOff + 8
	skfNetOff    = -0x100000 // loads relative to the network header
	packetOut    = 4         // PACKET_OUTGOING
	loopbackIdx  = 1
)

// negOff encodes a negative extension offset as the instruction's k.
func negOff(n int32) uint32 { return uint32(n) }

// ClassicFilter builds the classic-BPF fallback of the eBPF socket filter:
// TCP to or from one of ports, over IPv4 (no later fragments) or IPv6
// (with at most a hop-by-hop header, which BIG TCP adds), carrying payload
// or SYN/FIN/RST, and not the outgoing copy of a loopback packet. Loads are
// relative to the network header, so it works whatever the link layer.
// Tunnels (GRE, UDP to ports 4789 and 6081) are all kept, whatever their
// inner ports: the decoder and the tracker select those in user space.
//
// An IP length of 0 (BIG TCP) is taken as the packet's length, as
// DecodeFrame takes it. The filter cannot see where the link header ends,
// so it counts that header too: it may keep a segment of a few bytes that
// the decoder then finds empty, but never drops one the decoder keeps.
func ClassicFilter(ports []uint16) ([]bpf.RawInstruction, error) {
	if len(ports) == 0 || len(ports) > 100 {
		return nil, errors.New("the classic filter takes 1 to 100 ports")
	}
	// Labels are resolved by building the program twice: skips are counted
	// from the instruction after the jump.
	var prog []bpf.Instruction
	labels := map[string]int{}
	type fix struct {
		at              int
		ifTrue, ifFalse string
	}
	var fixes []fix
	emit := func(i bpf.Instruction) { prog = append(prog, i) }
	label := func(name string) { labels[name] = len(prog) }
	jump := func(i bpf.Instruction, t, f string) {
		fixes = append(fixes, fix{len(prog), t, f})
		emit(i)
	}
	const drop, keep = "drop", "keep"
	const reject = "reject" // a drop before the port checks (see there)
	const tunnel = "tunnel" // a keep before them

	// Loopback's outgoing copy.
	emit(bpf.LoadExtension{Num: bpf.ExtType})
	jump(bpf.JumpIf{Cond: bpf.JumpEqual, Val: packetOut}, "out", "version")
	label("out")
	emit(bpf.LoadAbsolute{Off: negOff(skfAdIfIndex), Size: 4})
	jump(bpf.JumpIf{Cond: bpf.JumpEqual, Val: loopbackIdx}, reject, "version")

	label("version")
	emit(bpf.LoadAbsolute{Off: negOff(skfNetOff), Size: 1})
	emit(bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: 0xf0})
	jump(bpf.JumpIf{Cond: bpf.JumpEqual, Val: 0x40}, "v4", "v6?")
	label("v6?")
	jump(bpf.JumpIf{Cond: bpf.JumpEqual, Val: 0x60}, "v6", reject)

	// IPv4: X = header length; ports at X, payload = total - X - data offset.
	label("v4")
	emit(bpf.LoadAbsolute{Off: negOff(skfNetOff + 6), Size: 2})
	jump(bpf.JumpIf{Cond: bpf.JumpBitsSet, Val: 0x1fff}, reject, "v4proto")
	label("v4proto")
	emit(bpf.LoadAbsolute{Off: negOff(skfNetOff + 9), Size: 1})
	jump(bpf.JumpIf{Cond: bpf.JumpEqual, Val: 6}, "v4hl", "v4gre?")
	label("v4gre?")
	jump(bpf.JumpIf{Cond: bpf.JumpEqual, Val: 47}, tunnel, "v4udp?")
	label("v4udp?")
	jump(bpf.JumpIf{Cond: bpf.JumpEqual, Val: 17}, "v4udp", reject)
	label("v4hl")
	emit(bpf.LoadAbsolute{Off: negOff(skfNetOff), Size: 1})
	emit(bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: 0x0f})
	emit(bpf.ALUOpConstant{Op: bpf.ALUOpShiftLeft, Val: 2})
	emit(bpf.TAX{})
	emit(bpf.LoadAbsolute{Off: negOff(skfNetOff + 2), Size: 2})
	jump(bpf.JumpIf{Cond: bpf.JumpEqual, Val: 0}, "biglen", "len0")
	label("len0")
	emit(bpf.StoreScratch{Src: bpf.RegA, N: 0}) // M[0] = total length
	jump(bpf.Jump{}, "ports", "")

	// IPv6: X = 40, or 40 + a hop-by-hop header's length when TCP follows
	// it; M[0] = 40 + payload length.
	label("v6")
	emit(bpf.LoadAbsolute{Off: negOff(skfNetOff + 6), Size: 1})
	jump(bpf.JumpIf{Cond: bpf.JumpEqual, Val: 6}, "v6tcp", "hbh?")
	label("hbh?")
	jump(bpf.JumpIf{Cond: bpf.JumpEqual, Val: 0}, "hbh", "v6gre?")
	label("v6gre?")
	jump(bpf.JumpIf{Cond: bpf.JumpEqual, Val: 47}, tunnel, "v6udp?")
	label("v6udp?")
	jump(bpf.JumpIf{Cond: bpf.JumpEqual, Val: 17}, "v6udp", reject)
	label("hbh")
	emit(bpf.LoadAbsolute{Off: negOff(skfNetOff + 40), Size: 1})
	jump(bpf.JumpIf{Cond: bpf.JumpEqual, Val: 6}, "hbhtcp", reject)
	label("hbhtcp")
	emit(bpf.LoadAbsolute{Off: negOff(skfNetOff + 41), Size: 1})
	emit(bpf.ALUOpConstant{Op: bpf.ALUOpAdd, Val: 1})
	emit(bpf.ALUOpConstant{Op: bpf.ALUOpShiftLeft, Val: 3})
	emit(bpf.ALUOpConstant{Op: bpf.ALUOpAdd, Val: 40})
	emit(bpf.TAX{})
	jump(bpf.Jump{}, "v6len", "")
	label("v6tcp")
	emit(bpf.LoadConstant{Dst: bpf.RegX, Val: 40})
	label("v6len")
	emit(bpf.LoadAbsolute{Off: negOff(skfNetOff + 4), Size: 2})
	jump(bpf.JumpIf{Cond: bpf.JumpEqual, Val: 0}, "biglen", "len6")
	label("len6")
	emit(bpf.ALUOpConstant{Op: bpf.ALUOpAdd, Val: 40})
	emit(bpf.StoreScratch{Src: bpf.RegA, N: 0})
	jump(bpf.Jump{}, "ports", "")

	// The header checks drop here, not at the end: a conditional jump
	// skips at most 255 instructions, and 100 ports take 200. (Not after
	// biglen: the kernel's check of scratch loads reads on past a return.)
	// Tunnels: GRE, and UDP to VXLAN's or GENEVE's port, go to user space
	// whole, where the decoder finds the inner packet and the tracker its
	// ports (this filter does not walk the inner headers: the eBPF one
	// does).
	label("v4udp")
	emit(bpf.LoadAbsolute{Off: negOff(skfNetOff), Size: 1})
	emit(bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: 0x0f})
	emit(bpf.ALUOpConstant{Op: bpf.ALUOpShiftLeft, Val: 2})
	emit(bpf.TAX{})
	emit(bpf.LoadIndirect{Off: negOff(skfNetOff + 2), Size: 2})
	jump(bpf.Jump{}, "udpport", "")
	label("v6udp")
	emit(bpf.LoadAbsolute{Off: negOff(skfNetOff + 42), Size: 2})
	label("udpport")
	jump(bpf.JumpIf{Cond: bpf.JumpEqual, Val: PortVXLAN}, tunnel, "geneve?")
	label("geneve?")
	jump(bpf.JumpIf{Cond: bpf.JumpEqual, Val: PortGENEVE}, tunnel, reject)
	label(tunnel)
	emit(bpf.RetConstant{Val: 0xffffffff})

	label(reject)
	emit(bpf.RetConstant{Val: 0})

	// BIG TCP (length 0): M[0] = the packet's length, link header included.
	label("biglen")
	emit(bpf.LoadExtension{Num: bpf.ExtLen})
	emit(bpf.StoreScratch{Src: bpf.RegA, N: 0})

	// X = offset of the TCP header from the network header.
	label("ports")
	emit(bpf.LoadIndirect{Off: negOff(skfNetOff), Size: 2})
	for i, p := range ports {
		next := "src" + string(rune('a'+i%26)) + string(rune('a'+i/26))
		jump(bpf.JumpIf{Cond: bpf.JumpEqual, Val: uint32(p)}, "payload", next)
		label(next)
	}
	emit(bpf.LoadIndirect{Off: negOff(skfNetOff + 2), Size: 2})
	for i, p := range ports {
		next := "dst" + string(rune('a'+i%26)) + string(rune('a'+i/26))
		if i == len(ports)-1 {
			next = drop
		}
		jump(bpf.JumpIf{Cond: bpf.JumpEqual, Val: uint32(p)}, "payload", next)
		if next != drop {
			label(next)
		}
	}

	// Keep SYN/FIN/RST, and segments longer than their headers.
	label("payload")
	emit(bpf.LoadIndirect{Off: negOff(skfNetOff + 13), Size: 1})
	jump(bpf.JumpIf{Cond: bpf.JumpBitsSet, Val: 0x07}, keep, "len")
	label("len")
	emit(bpf.TXA{})
	emit(bpf.StoreScratch{Src: bpf.RegA, N: 1}) // M[1] = IP header length
	emit(bpf.LoadIndirect{Off: negOff(skfNetOff + 12), Size: 1})
	emit(bpf.ALUOpConstant{Op: bpf.ALUOpShiftRight, Val: 4})
	emit(bpf.ALUOpConstant{Op: bpf.ALUOpShiftLeft, Val: 2})
	emit(bpf.TAX{})
	emit(bpf.LoadScratch{Dst: bpf.RegA, N: 1})
	emit(bpf.ALUOpX{Op: bpf.ALUOpAdd})
	emit(bpf.TAX{}) // X = all headers
	emit(bpf.LoadScratch{Dst: bpf.RegA, N: 0})
	jump(bpf.JumpIfX{Cond: bpf.JumpGreaterThan}, keep, drop)

	label(keep)
	emit(bpf.RetConstant{Val: 0xffffffff})
	label(drop)
	emit(bpf.RetConstant{Val: 0})

	for _, f := range fixes {
		skip := func(name string) uint8 {
			d := labels[name] - f.at - 1
			if d < 0 || d > 255 {
				panic("classic filter: jump out of range to " + name)
			}
			return uint8(d)
		}
		switch j := prog[f.at].(type) {
		case bpf.JumpIf:
			j.SkipTrue, j.SkipFalse = skip(f.ifTrue), skip(f.ifFalse)
			prog[f.at] = j
		case bpf.JumpIfX:
			j.SkipTrue, j.SkipFalse = skip(f.ifTrue), skip(f.ifFalse)
			prog[f.at] = j
		case bpf.Jump:
			j.Skip = uint32(skip(f.ifTrue))
			prog[f.at] = j
		}
	}
	return bpf.Assemble(prog)
}

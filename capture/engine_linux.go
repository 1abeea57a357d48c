//go:build linux

package capture

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/xray-capture/xray-capture/bpf"
)

// OpenEngine opens a ring on iface ("" for every interface) and attaches
// the packet filter the engine names, for TCP of the ports: "ebpf" (the
// eBPF socket filter), "cbpf" (classic BPF, where loading eBPF is not
// allowed: IPv6 extension headers are then not walked), or "auto": eBPF,
// else classic BPF, which it says in one log line. It returns the engine
// attached. log may be nil.
func OpenEngine(engine, iface string, ports []uint16, rc RingConfig, log *slog.Logger) (*Live, string, error) {
	if engine != "auto" && engine != "ebpf" && engine != "cbpf" {
		return nil, "", fmt.Errorf("engine %q: want auto, ebpf or cbpf", engine)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	src, err := OpenLive(iface, rc)
	if err != nil {
		return nil, "", err
	}
	if engine == "auto" || engine == "ebpf" {
		err := attachEBPF(src, ports, log)
		switch {
		case err == nil:
			return src, "ebpf", nil
		case engine == "ebpf":
			src.Close()
			return nil, "", err
		}
		log.Info("eBPF socket filter unavailable, using classic BPF", "reason", err)
	}
	prog, err := ClassicFilter(ports)
	if err == nil {
		err = src.AttachClassic(prog)
	}
	if err != nil {
		src.Close()
		return nil, "", err
	}
	return src, "cbpf", nil
}

func attachEBPF(src *Live, ports []uint16, log *slog.Logger) error {
	if err := raiseMemlock(); err != nil {
		log.Debug("memlock limit kept", "reason", err)
	}
	f, err := bpf.NewFilter(ports)
	if err != nil {
		var ve *ebpf.VerifierError
		if errors.As(err, &ve) {
			log.Debug("verifier log", "log", fmt.Sprintf("%+v", ve))
		}
		if !canLoadBPF() {
			// The library's own hint (raise MEMLOCK) misleads here: the
			// capability is what is missing.
			log.Debug("eBPF load error", "error", err)
			return errors.New("loading the eBPF filter needs CAP_BPF (or CAP_SYS_ADMIN before Linux 5.8), which this process does not hold")
		}
		return err
	}
	// Once attached, the socket holds the program; the loader's copy can go.
	defer f.Close()
	return src.AttachEBPF(f.FD())
}

// canLoadBPF reports whether the process holds what loading the eBPF filter
// needs: CAP_BPF, or CAP_SYS_ADMIN (before Linux 5.8, and as root).
func canLoadBPF() bool {
	caps, err := EffectiveCaps()
	return err == nil && (caps&(1<<unix.CAP_BPF) != 0 || caps&(1<<unix.CAP_SYS_ADMIN) != 0)
}

// EffectiveCaps returns the calling thread's effective capabilities, bit
// n for capability n.
func EffectiveCaps() (uint64, error) {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return 0, err
	}
	return uint64(data[1].Effective)<<32 | uint64(data[0].Effective), nil
}

// raiseMemlock lifts RLIMIT_MEMLOCK, which charged BPF maps and programs
// before Linux 5.11 (later kernels charge the memory cgroup, and the limit
// no longer matters). Not cilium/ebpf's rlimit package: its initialiser
// creates a BPF map and reads /proc/self/mountinfo to find out which
// kernel this is, at every start-up, replays included.
func raiseMemlock() error {
	inf := unix.Rlimit{Cur: unix.RLIM_INFINITY, Max: unix.RLIM_INFINITY}
	if err := unix.Setrlimit(unix.RLIMIT_MEMLOCK, &inf); err == nil {
		return nil
	}
	// Without CAP_SYS_RESOURCE, the soft limit can still rise to the hard.
	var cur unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_MEMLOCK, &cur); err != nil {
		return err
	}
	if cur.Cur == cur.Max {
		return fmt.Errorf("RLIMIT_MEMLOCK stays at %d bytes (no CAP_SYS_RESOURCE to raise its hard limit)", cur.Max)
	}
	cur.Cur = cur.Max
	return unix.Setrlimit(unix.RLIMIT_MEMLOCK, &cur)
}

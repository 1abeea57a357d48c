//go:build linux

package main

import (
	"errors"
	"fmt"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/xray-capture/xray-capture/capture"
)

func hasCap(caps uint64, c uint) bool { return caps&(1<<c) != 0 }

// checkCaptureCaps fails with one line when live capture cannot open its
// socket.
func checkCaptureCaps() error {
	caps, err := capture.EffectiveCaps()
	if err != nil {
		return fmt.Errorf("read capabilities: %w", err)
	}
	if !hasCap(caps, unix.CAP_NET_RAW) {
		return errors.New("live capture needs CAP_NET_RAW to open an AF_PACKET socket: run as root, or grant cap_net_raw and cap_bpf (see README)")
	}
	return nil
}

// dropAllCaps clears every capability of every thread once the socket is
// open and filtered: reading the ring and sending UDP need none.
func dropAllCaps() error {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3, Pid: 0}
	var data [2]unix.CapUserData
	_, _, errno := syscall.AllThreadsSyscall(unix.SYS_CAPSET, uintptr(unsafe.Pointer(&hdr)), uintptr(unsafe.Pointer(&data[0])), 0)
	if errno != 0 {
		if errno == syscall.ENOTSUP {
			return errors.New("cannot drop capabilities in a cgo build (build with CGO_ENABLED=0)")
		}
		return fmt.Errorf("drop capabilities: %w", errno)
	}
	return nil
}

//go:build linux

package testutil

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"

	"golang.org/x/sys/unix"
)

// NetNS is a named network namespace made for one test and deleted after.
type NetNS struct {
	Name string
	fd   int
}

var nsCounter atomic.Int64

// NewNetNS makes a namespace with its loopback up.
func NewNetNS(t testing.TB) *NetNS {
	t.Helper()
	name := fmt.Sprintf("xct%d-%d", os.Getpid(), nsCounter.Add(1))
	Run(t, "ip", "netns", "add", name)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", name).Run() })
	fd, err := unix.Open("/run/netns/"+name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("open netns %s: %v", name, err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	ns := &NetNS{Name: name, fd: fd}
	ns.Run(t, "ip", "link", "set", "lo", "up")
	return ns
}

// Run runs a command in the namespace and fails the test if it fails.
func (ns *NetNS) Run(t testing.TB, args ...string) string {
	t.Helper()
	return Run(t, append([]string{"ip", "netns", "exec", ns.Name}, args...)...)
}

// Command prepares a command that runs in the namespace.
func (ns *NetNS) Command(args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", ns.Name}, args...)...)
}

// Do runs fn on a thread switched into the namespace. Sockets created there
// stay in the namespace after Do returns.
func (ns *NetNS) Do(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		// The thread is left locked, so that the runtime retires it rather
		// than reusing a thread in another namespace.
		runtime.LockOSThread()
		if err := unix.Setns(ns.fd, unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("setns: %w", err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}

// Run runs a command and fails the test with its output if it fails.
func Run(t testing.TB, args ...string) string {
	t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// Link joins two namespaces with a veth pair: a gets addrA (CIDR) on
// interface ifA, b gets addrB on ifB. IPv6 addresses skip duplicate
// address detection so that they work at once.
func Link(t testing.TB, a *NetNS, ifA string, addrsA []string, b *NetNS, ifB string, addrsB []string) {
	t.Helper()
	Run(t, "ip", "link", "add", ifA, "netns", a.Name, "type", "veth", "peer", "name", ifB, "netns", b.Name)
	for _, side := range []struct {
		ns    *NetNS
		iface string
		addrs []string
	}{{a, ifA, addrsA}, {b, ifB, addrsB}} {
		for _, addr := range side.addrs {
			args := []string{"ip", "addr", "add", addr, "dev", side.iface}
			if strings.Contains(addr, ":") {
				args = append(args, "nodad")
			}
			side.ns.Run(t, args...)
		}
		side.ns.Run(t, "ip", "link", "set", side.iface, "up")
	}
}

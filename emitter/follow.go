package emitter

import (
	"context"
	"net"
	"net/netip"
	"slices"
	"time"

	"golang.org/x/sys/unix"
)

// followEvery is how often a daemon address given by name is looked up
// again. The socket is connected to one IP; a daemon behind a DNS name (a
// Kubernetes Service, ECS service discovery, a host record that moves)
// may change address without the agent restarting.
const followEvery = 30 * time.Second

// lookupFunc resolves a host name to its addresses.
type lookupFunc func(ctx context.Context, host string) ([]netip.Addr, error)

func systemLookup(ctx context.Context, host string) ([]netip.Addr, error) {
	return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
}

// lookupTimeout bounds one lookup of the daemon's name.
const lookupTimeout = 5 * time.Second

// follow re-resolves host every interval until ctx ends, and reconnects
// u's socket when the address it is connected to is no longer among the
// answers. A lookup that fails keeps the address: a resolver down for a
// moment must not stop the segments. Connecting a UDP socket again only
// changes its peer; a send racing with it goes to one of the two. While
// the name has never resolved (current invalid) there is no socket: the
// first answer opens one, which the next send picks up.
func (u *UDP) follow(ctx context.Context, host string, port uint16, current netip.Addr, lookup lookupFunc, interval time.Duration) {
	defer close(u.followDone)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		lctx, cancel := context.WithTimeout(ctx, lookupTimeout)
		addrs, err := lookup(lctx, host)
		cancel()
		if err != nil || len(addrs) == 0 || slices.Contains(addrs, current) {
			continue
		}
		if !current.IsValid() {
			first := preferred(addrs)
			fd, err := dialUDP(net.UDPAddrFromAddrPort(netip.AddrPortFrom(first, port)))
			if err != nil {
				continue
			}
			current = first
			u.fd.Store(int32(fd))
			continue
		}
		// The socket's family is fixed: an address of the same family only.
		i := slices.IndexFunc(addrs, func(a netip.Addr) bool { return a.Unmap().Is4() == current.Is4() })
		if i < 0 {
			continue
		}
		next := addrs[i].Unmap()
		_, sa, err := sockaddrOf(net.UDPAddrFromAddrPort(netip.AddrPortFrom(next, port)))
		if err != nil || unix.Connect(int(u.fd.Load()), sa) != nil {
			continue
		}
		current = next
		u.Moves.Add(1)
	}
}

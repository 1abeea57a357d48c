package emitter

import (
	"errors"
	"unsafe"

	"golang.org/x/sys/unix"
)

// batch holds the sendmmsg vectors, reused for every batch.
type batch struct {
	iovs []unix.Iovec
	msgs []unix.Mmsghdr
}

func newBatch(n int) batch {
	return batch{iovs: make([]unix.Iovec, n), msgs: make([]unix.Mmsghdr, n)}
}

// send hands the batch to the kernel with sendmmsg, a datagram per message.
func (u *UDP) send() {
	n := len(u.ends)
	fd := u.fd.Load()
	if fd < 0 {
		for range n {
			u.refused(ErrUnresolved)
		}
		return
	}
	// The iovecs point into buf, so they are built only now that buf no
	// longer grows.
	start := 0
	for i, end := range u.ends {
		u.iovs[i].Base = &u.buf[start]
		u.iovs[i].SetLen(end - start)
		u.msgs[i].Hdr.Iov = &u.iovs[i]
		u.msgs[i].Hdr.SetIovlen(1)
		start = end
	}
	for i := 0; i < n; {
		// The fd is non-blocking: a full socket buffer returns EAGAIN
		// instead of stopping the capture.
		// A raw call, because a batch keeps the kernel busy for long
		// enough (about 100 µs) that the runtime would otherwise hand
		// our P to another thread, which spins looking for work: that
		// cost more CPU than the sends.
		r, _, errno := unix.RawSyscall6(unix.SYS_SENDMMSG, uintptr(fd), uintptr(unsafe.Pointer(&u.msgs[i])), uintptr(n-i), 0, 0, 0)
		switch {
		case errno != 0:
			u.refused(errno)
			i++
		case r == 0:
			u.refused(errors.New("sendmmsg sent nothing"))
			i++
		default:
			u.Sent += uint64(r)
			i += int(r)
		}
	}
}

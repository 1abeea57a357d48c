//go:build !linux

package emitter

import "golang.org/x/sys/unix"

// batch is empty where there is no sendmmsg: each datagram is a write.
type batch struct{}

func newBatch(int) batch { return batch{} }

// send writes the batch one datagram at a time.
func (u *UDP) send() {
	start := 0
	for _, end := range u.ends {
		if _, err := unix.Write(u.fd, u.buf[start:end]); err != nil {
			u.refused(err)
		} else {
			u.Sent++
		}
		start = end
	}
}

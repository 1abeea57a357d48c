//go:build !linux

package emitter

import "golang.org/x/sys/unix"

// batch is empty where there is no sendmmsg: each datagram is a write.
type batch struct{}

func newBatch(int) batch { return batch{} }

// send writes the batch one datagram at a time.
func (u *UDP) send() {
	fd := int(u.fd.Load())
	start := 0
	for _, end := range u.ends {
		if fd < 0 {
			u.refused(ErrUnresolved)
		} else if _, err := unix.Write(fd, u.buf[start:end]); err != nil {
			u.refused(err)
		} else {
			u.Sent++
		}
		start = end
	}
}

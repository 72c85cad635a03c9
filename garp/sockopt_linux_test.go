package garp_test

import "golang.org/x/sys/unix"

func setRcvbuf(fd, n int) error {
	return unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, n)
}

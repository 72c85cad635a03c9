//go:build !linux

package heartbeat

import (
	"errors"
	"net"
	"runtime"
)

// ListenEthernet opens an AF_PACKET socket for heartbeat frames. It is only
// implemented on Linux; elsewhere it returns an error that wraps
// errors.ErrUnsupported.
func ListenEthernet(ifi *net.Interface, etherType uint16) (Conn, error) {
	return nil, notSupported("ethernet transport")
}

// notSupported returns the error of a Linux-only feature on another GOOS.
func notSupported(thing string) error {
	return &unsupportedError{thing: thing}
}

// unsupportedError reads "heartbeat: <thing> not supported on <GOOS>" and
// matches errors.ErrUnsupported.
type unsupportedError struct{ thing string }

func (e *unsupportedError) Error() string {
	return "heartbeat: " + e.thing + " not supported on " + runtime.GOOS
}

func (e *unsupportedError) Unwrap() error { return errors.ErrUnsupported }

//go:build !linux

package vrrp

import (
	"errors"
	"net"
	"runtime"
)

// Listen opens raw IP sockets for VRRP on ifi. It is only implemented on
// Linux; elsewhere it returns an error that wraps errors.ErrUnsupported.
func Listen(ifi *net.Interface, cfg *ListenConfig) (*IPConn, error) {
	return nil, &unsupportedError{op: "listen"}
}

// unsupportedError reads "vrrp: <op>: not supported on <GOOS>" and matches
// errors.ErrUnsupported.
type unsupportedError struct{ op string }

func (e *unsupportedError) Error() string {
	return "vrrp: " + e.op + ": not supported on " + runtime.GOOS
}

func (e *unsupportedError) Unwrap() error { return errors.ErrUnsupported }

// Package platform reports, the same way in every hakit package, an
// operation the platform does not support.
package platform

import (
	"errors"
	"runtime"
)

// Unsupported returns the error of operation op of package pkg on this
// platform: "pkg: op: not supported on GOOS", wrapping errors.ErrUnsupported.
func Unsupported(pkg, op string) error {
	return &unsupported{msg: pkg + ": " + op + ": not supported on " + runtime.GOOS}
}

type unsupported struct{ msg string }

func (e *unsupported) Error() string { return e.msg }

func (e *unsupported) Unwrap() error { return errors.ErrUnsupported }

//go:build !linux

package testbed

func preflight() error { return ErrNotSupported }

func doIn(string, func() error) error { return ErrNotSupported }

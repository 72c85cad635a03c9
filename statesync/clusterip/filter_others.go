//go:build !linux

package clusterip

import (
	"errors"
	"fmt"
	"runtime"
)

// Filter is the kernel's share filter; on this platform there is none.
type Filter struct{}

// New returns an error wrapping errors.ErrUnsupported: the filter needs
// Linux's nftables.
func New(cfg *Config) (*Filter, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return nil, fmt.Errorf("clusterip: filter: not supported on %s: %w", runtime.GOOS, errors.ErrUnsupported)
}

// Set does nothing.
func (f *Filter) Set(owners []uint16) error { return errors.ErrUnsupported }

// Stats returns zero counters.
func (f *Filter) Stats() Stats { return Stats{} }

// Close does nothing.
func (f *Filter) Close() error { return nil }

//go:build !linux

package conntrack

import (
	"context"
	"fmt"
	"runtime"
	"time"

	"github.com/hakit/hakit/statesync"
)

// Follower mirrors the kernel's conntrack table; Linux only.
type Follower struct{}

// DialFollower returns an error wrapping ErrNotSupported on this system.
func DialFollower(*statesync.Table, *Config) (*Follower, error) {
	return nil, fmt.Errorf("conntrack: follower on %s: %w", runtime.GOOS, ErrNotSupported)
}

// Run returns an error wrapping ErrNotSupported.
func (*Follower) Run(context.Context) error { return ErrNotSupported }

// Stats returns zero counters.
func (*Follower) Stats() FollowerStats { return FollowerStats{} }

// Close does nothing.
func (*Follower) Close() error { return nil }

// Resync returns an error wrapping ErrNotSupported.
func (*Follower) Resync(context.Context) error { return ErrNotSupported }

// Injector injects sessions into the kernel's conntrack table; Linux only.
type Injector struct{}

// DialInjector returns an error wrapping ErrNotSupported on this system.
func DialInjector(*Config) (*Injector, error) {
	return nil, fmt.Errorf("conntrack: injector on %s: %w", runtime.GOOS, ErrNotSupported)
}

// Inject returns an error wrapping ErrNotSupported.
func (*Injector) Inject(time.Time, ...statesync.Session) (int, error) { return 0, ErrNotSupported }

// Commit returns an error wrapping ErrNotSupported.
func (*Injector) Commit(time.Time, *statesync.Table) (int, error) { return 0, ErrNotSupported }

// Delete returns an error wrapping ErrNotSupported.
func (*Injector) Delete(statesync.Session) error { return ErrNotSupported }

// Resync returns an error wrapping ErrNotSupported.
func (*Injector) Resync(time.Time, *statesync.Table) (int, error) { return 0, ErrNotSupported }

// Follow returns an error wrapping ErrNotSupported.
func (*Injector) Follow(context.Context, *statesync.Table) error { return ErrNotSupported }

// Stats returns zero counters.
func (*Injector) Stats() InjectorStats { return InjectorStats{} }

// Close does nothing.
func (*Injector) Close() error { return nil }

//go:build !linux

package conntrack

import (
	"context"
	"time"

	"github.com/hakit/hakit/internal/platform"
	"github.com/hakit/hakit/statesync"
)

// Follower mirrors the kernel's conntrack table; Linux only.
type Follower struct{}

// DialFollower returns an error wrapping errors.ErrUnsupported on this system.
func DialFollower(*statesync.Table, *Config) (*Follower, error) {
	return nil, platform.Unsupported("conntrack", "dial follower")
}

// Run returns an error wrapping errors.ErrUnsupported.
func (*Follower) Run(context.Context) error { return platform.Unsupported("conntrack", "follow") }

// FollowChanges returns an error wrapping errors.ErrUnsupported.
func (*Injector) FollowChanges(context.Context, *statesync.Table) error {
	return platform.Unsupported("conntrack", "follow")
}

// Stats returns zero counters.
func (*Follower) Stats() FollowerStats { return FollowerStats{} }

// Close does nothing.
func (*Follower) Close() error { return nil }

// Resync returns an error wrapping errors.ErrUnsupported.
func (*Follower) Resync(context.Context) error { return platform.Unsupported("conntrack", "resync") }

// Injector injects sessions into the kernel's conntrack table; Linux only.
type Injector struct{}

// DialInjector returns an error wrapping errors.ErrUnsupported on this system.
func DialInjector(*Config) (*Injector, error) {
	return nil, platform.Unsupported("conntrack", "dial injector")
}

// Inject returns an error wrapping errors.ErrUnsupported.
func (*Injector) Inject(time.Time, ...statesync.Session) (int, error) {
	return 0, platform.Unsupported("conntrack", "inject")
}

// Commit returns an error wrapping errors.ErrUnsupported.
func (*Injector) Commit(time.Time, *statesync.Table) (int, error) {
	return 0, platform.Unsupported("conntrack", "commit")
}

// Delete returns an error wrapping errors.ErrUnsupported.
func (*Injector) Delete(statesync.Session) error { return platform.Unsupported("conntrack", "delete") }

// Resync returns an error wrapping errors.ErrUnsupported.
func (*Injector) Resync(time.Time, *statesync.Table) (int, error) {
	return 0, platform.Unsupported("conntrack", "resync")
}

// Follow returns an error wrapping errors.ErrUnsupported.
func (*Injector) Follow(context.Context, *statesync.Table) error {
	return platform.Unsupported("conntrack", "follow")
}

// Stats returns zero counters.
func (*Injector) Stats() InjectorStats { return InjectorStats{} }

// Close does nothing.
func (*Injector) Close() error { return nil }

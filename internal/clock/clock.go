// Package clock gives the drivers of hakit's protocol cores their notion of
// time: the real clock, and a simulated clock that advances virtual time as a
// deterministic discrete-event scheduler.
//
// The protocol cores never read a clock; they take time as an argument. The
// thin drivers that own timers take a Clock. Because Clock's methods use only
// predeclared and standard types, every package can declare the same small
// interface where it is used, and both implementations here satisfy all of
// them.
package clock

import "time"

// Clock is what a driver needs from time.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// AfterFunc calls f once, after d has elapsed, and returns a function
	// that cancels the call; stop reports whether it prevented the call.
	AfterFunc(d time.Duration, f func()) (stop func() bool)
}

// Real returns the wall clock of the time package. Inside a testing/synctest
// bubble it runs on the bubble's virtual time.
func Real() Clock { return realClock{} }

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) AfterFunc(d time.Duration, f func()) func() bool {
	return time.AfterFunc(d, f).Stop
}

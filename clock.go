package hakit

import "time"

// Clock is what the drivers of hakit's packages need from time: every
// Config.Clock field is a Clock. The protocol cores (the Machines) never read
// a clock; they take time as an argument, and their drivers own the timers.
//
// RealClock is the wall clock. A simulated clock (a discrete-event
// scheduler over virtual time) or a test's fake implements the same two
// methods; inside a testing/synctest bubble RealClock already runs on the
// bubble's virtual time.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// AfterFunc calls f once, on its own goroutine or the clock's, after d
	// has elapsed, and returns a function that cancels the call; stop
	// reports whether it prevented the call.
	AfterFunc(d time.Duration, f func()) (stop func() bool)
}

// RealClock returns the wall clock of the time package.
func RealClock() Clock { return realClock{} }

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) AfterFunc(d time.Duration, f func()) func() bool {
	if d <= 0 {
		// Due now: a goroutine of its own, as time.AfterFunc would start,
		// without a timer. (Inside a testing/synctest bubble under the race
		// detector, Go 1.26's time.AfterFunc with a duration of zero or less
		// crashes the runtime now and then: SIGSEGV in timer.modify.)
		go f()
		return func() bool { return false }
	}
	return time.AfterFunc(d, f).Stop
}

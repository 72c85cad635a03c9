package testbed

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"

	"golang.org/x/sys/unix"
)

// tools are the commands the test bed runs, with the Debian package that
// installs each.
var tools = [][2]string{{"ip", "iproute2"}, {"bridge", "iproute2"}, {"nft", "nftables"}}

// preflight reports why the test bed cannot run here, or nil.
func preflight() error {
	if os.Geteuid() != 0 {
		return ErrNeedRoot
	}
	for _, t := range tools {
		if _, err := exec.LookPath(t[0]); err != nil {
			return fmt.Errorf("%w: %s not found in PATH (apt-get install %s)", ErrMissingTool, t[0], t[1])
		}
	}
	return nil
}

// doIn runs fn on a fresh goroutine locked to its OS thread, after moving
// that thread into the network namespace at nsPath, and moves it back
// afterwards. If moving back fails the thread stays locked, so the runtime
// ends it with the goroutine instead of reusing it in the wrong namespace.
// A panic in fn is re-raised in the caller; a runtime.Goexit in fn (as by
// t.FailNow) ends the caller's goroutine too.
func doIn(nsPath string, fn func() error) error {
	type result struct {
		err      error
		panicked bool
		value    any
		exited   bool
	}
	done := make(chan result, 1)
	go func() {
		var r result
		returned := false
		defer func() {
			if !returned {
				if p := recover(); p != nil {
					r.panicked, r.value = true, p
				} else {
					r.exited = true
				}
			}
			done <- r
		}()
		runtime.LockOSThread()
		orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			r.err = fmt.Errorf("testbed: open own netns: %w", err)
			runtime.UnlockOSThread()
			returned = true
			return
		}
		defer unix.Close(orig)
		target, err := unix.Open(nsPath, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			r.err = fmt.Errorf("testbed: open netns %s: %w", nsPath, err)
			runtime.UnlockOSThread()
			returned = true
			return
		}
		err = unix.Setns(target, unix.CLONE_NEWNET)
		unix.Close(target)
		if err != nil {
			r.err = fmt.Errorf("testbed: enter netns %s: %w", nsPath, err)
			// Setns failed, so the thread is unchanged; still, be safe and
			// let it die with the goroutine.
			returned = true
			return
		}
		defer func() {
			if unix.Setns(orig, unix.CLONE_NEWNET) == nil {
				runtime.UnlockOSThread()
			}
		}()
		r.err = fn()
		returned = true
	}()
	r := <-done
	switch {
	case r.panicked:
		panic(r.value)
	case r.exited:
		runtime.Goexit()
	}
	return r.err
}

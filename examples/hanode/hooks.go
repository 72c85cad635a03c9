package main

import (
	"flag"
	"fmt"
	"time"
)

// hookFlags are the flags of the notify hook.
type hookFlags struct {
	// Command is a shell line run by /bin/sh -c on every notable event
	// (-notify); empty runs none.
	Command string
	// Timeout kills a run that takes longer (-notify-timeout).
	Timeout time.Duration
}

func (h *hookFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&h.Command, "notify", "", "shell command run on every role change, verdict, split brain, sync change and failed step, with the event in HAKIT_* environment variables; it never delays a takeover")
	fs.DurationVar(&h.Timeout, "notify-timeout", 10*time.Second, "kill a -notify command (and the processes it started) after this long")
}

func (h *hookFlags) check() error {
	if h.Timeout <= 0 {
		return fmt.Errorf("%w: -notify-timeout %v: must be positive", errConfig, h.Timeout)
	}
	return nil
}

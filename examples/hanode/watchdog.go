package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"runtime/debug"
	"syscall"
)

// A Go program that panics, or whose runtime dies of a fatal error, exits
// at once: no deferred call, no signal handler runs, and the virtual MAC
// and addresses stay on the interfaces while the peer takes over. So
// hanode starts a second copy of itself as its watchdog. The runtime
// writes its crash report to the watchdog's standard input as well as to
// stderr (runtime/debug.SetCrashOutput); when the daemon is gone, the
// watchdog reads what the report said and, if there was one, releases
// what the daemon held, as a restart would (clearCrash), then exits. A
// clean stop writes no report (everything is released already), and
// neither does SIGKILL, which leaves the release to the restart, as a
// power loss does.

// watchdogEnv, set in its environment, makes hanode the watchdog of its
// parent; the arguments are the parent's.
const watchdogEnv = "HANODE_WATCHDOG"

// startWatchdog starts the watchdog of this process with its arguments.
// It is best effort: without it, only a crash leaves things behind.
func startWatchdog(args []string) error {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("watchdog: %w", err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("watchdog: %w", err)
	}
	defer w.Close() // SetCrashOutput keeps a duplicate
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), watchdogEnv+"=1")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = r, os.Stderr, os.Stderr
	err = cmd.Start()
	r.Close()
	if err != nil {
		return fmt.Errorf("watchdog: %w", err)
	}
	go cmd.Wait() // it exits once this process is gone
	if err := debug.SetCrashOutput(w, debug.CrashOptions{}); err != nil {
		return fmt.Errorf("watchdog: %w", err)
	}
	return nil
}

// watchdog is the watchdog's whole life: it waits for the crash report on
// report (its standard input) until the daemon is gone, and releases what
// the daemon held if there was one. It returns the exit status.
func watchdog(args []string, report io.Reader, stderr io.Writer) int {
	// Signals to the daemon's process group (a terminal's ^C, a service
	// manager's stop) are for the daemon: the watchdog stays to see how
	// it ends.
	signal.Ignore(syscall.SIGHUP, syscall.SIGINT, syscall.SIGTERM, syscall.SIGQUIT, syscall.SIGPIPE)
	cfg, err := parseConfig(args, io.Discard)
	if err != nil {
		return 0 // the daemon says why, and changes nothing
	}
	crash := crashReport(report)
	if crash == "" {
		return 0
	}
	log := slog.New(newDedupHandler(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: cfg.LogLevel}))).
		With("unit", cfg.UnitID, "part", "watchdog")
	log.Error("the daemon crashed: releasing the virtual MAC and addresses", "crash", crash)
	d := &daemon{cfg: cfg, log: log}
	if _, err := d.interfaces(); err != nil {
		log.Error("release after the crash", "err", err)
		return 1
	}
	if err := d.clearCrash(); err != nil {
		log.Error("release after the crash", "err", err)
		return 1
	}
	log.Info("released after the crash")
	return 0
}

// crashReport reads r until the daemon is gone (end of file) and returns
// the first line of the crash report it wrote, or "" if it wrote none.
func crashReport(r io.Reader) string {
	b, _ := io.ReadAll(r)
	if len(b) == 0 {
		return ""
	}
	first, _, _ := bufio.NewReader(bytes.NewReader(b)).ReadLine()
	if len(first) == 0 {
		first = []byte("(no message)")
	}
	return string(first)
}

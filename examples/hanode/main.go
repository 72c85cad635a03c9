package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
)

// stopSignals end the daemon: each one stops it cleanly (a handover if
// primary, then everything released), as SIGTERM does. SIGHUP reloads the
// configuration and the keys instead (reload.go, security.go), as
// keepalived's does. SIGPIPE (a closed log reader) is ignored: the write
// fails and the daemon goes on.
var stopSignals = []os.Signal{os.Interrupt, syscall.SIGTERM, syscall.SIGQUIT}

func main() {
	if os.Getenv(watchdogEnv) != "" {
		os.Exit(watchdog(os.Args[1:], os.Stdin, os.Stderr))
	}
	signal.Ignore(syscall.SIGPIPE)
	ctx, stop := signal.NotifyContext(context.Background(), stopSignals...)
	if err := startWatchdog(os.Args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "hanode: %v: a crash would leave the virtual MAC and addresses behind\n", err)
	}
	code := run(ctx, os.Args[1:], os.Stderr)
	stop()
	os.Exit(code)
}

// run is the whole daemon: it parses args, starts the unit, runs until ctx
// is done (a stop signal in main), hands the role over and releases
// everything. It returns the exit status: 0 after a clean stop, 2 for a
// configuration error (nothing on the system was changed), 1 when the
// start failed (everything started was undone).
func run(ctx context.Context, args []string, stderr io.Writer) int {
	cfg, err := parseConfig(args, stderr)
	if errors.Is(err, errHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "hanode: %v\n", err)
		return 2
	}
	if cfg.CheckOnly {
		fmt.Fprint(os.Stdout, renderConfig(cfg.Flags, cfg.Checks))
		return 0
	}
	var level slog.LevelVar // SIGHUP may change it
	level.Set(cfg.LogLevel)
	log := slog.New(newDedupHandler(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: &level}))).
		With("unit", cfg.UnitID)
	d, err := start(cfg, log)
	if err != nil {
		fmt.Fprintf(stderr, "hanode: %v\n", err)
		if errors.Is(err, errConfig) {
			return 2
		}
		return 1
	}
	d.watchHUP(ctx, args, &level)
	d.run(ctx)
	d.close()
	log.Info("stopped: everything released")
	return 0
}

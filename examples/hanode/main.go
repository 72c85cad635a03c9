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

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stderr)
	stop()
	os.Exit(code)
}

// run is the whole daemon: it parses args, starts the unit, runs until ctx
// is done (SIGTERM or SIGINT in main), hands the role over and releases
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
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: &level})).
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

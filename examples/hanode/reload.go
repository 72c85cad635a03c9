package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"reflect"
	"slices"
	"strings"
	"syscall"
)

// reloadable are the keys (flags) a SIGHUP applies to the running unit;
// the [[check]] tables are applied too. A change to any other key needs a
// restart: the reload is refused and the running configuration kept.
var reloadable = []string{"priority", "log-level"}

// watchHUP re-reads the configuration on every SIGHUP until ctx is done.
func (d *daemon) watchHUP(ctx context.Context, args []string, level *slog.LevelVar) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		defer signal.Stop(hup)
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				if err := d.reload(args, level); err != nil {
					d.log.Error("reload refused, the running configuration is kept", "err", err)
				}
			}
		}
	}()
}

// reload parses the command line and the configuration file again and
// applies what can change while the unit runs: the priority, the checks,
// the log level. Anything else that changed refuses the whole reload.
func (d *daemon) reload(args []string, level *slog.LevelVar) error {
	nc, err := parseConfig(args, io.Discard)
	if err != nil {
		return err
	}
	if nc.CheckOnly {
		return fmt.Errorf("started with -check-config")
	}
	old := d.cfg
	if err := needsRestart(old, nc); err != nil {
		return err
	}
	var applied []string
	if !reflect.DeepEqual(nc.Checks, old.Checks) {
		checks, closers, err := memberChecks(nc.Checks)
		if err != nil {
			return err
		}
		if err := d.unit.SetChecks(checks); err != nil {
			closeAll(closers)
			return err
		}
		d.mu.Lock()
		closeAll(d.checkClosers)
		d.checkClosers = closers
		d.mu.Unlock()
		applied = append(applied, fmt.Sprintf("%d checks", len(checks)))
	}
	if nc.Priority != old.Priority {
		d.unit.SetPriority(nc.Priority)
		applied = append(applied, fmt.Sprintf("priority %d -> %d", old.Priority, nc.Priority))
	}
	if nc.LogLevel != old.LogLevel {
		level.Set(nc.LogLevel)
		applied = append(applied, fmt.Sprintf("log level %v -> %v", old.LogLevel, nc.LogLevel))
	}
	d.cfg = nc
	if len(applied) == 0 {
		applied = append(applied, "nothing changed")
	}
	d.log.Info("configuration reloaded: " + strings.Join(applied, ", "))
	return nil
}

// needsRestart returns an error naming every key that changed from old to
// nc and cannot change while the unit runs.
func needsRestart(old, nc *config) error {
	var fixed []string
	for _, k := range sortedKeys(nc.Flags) {
		if !slices.Contains(reloadable, k) && !reflect.DeepEqual(nc.Flags[k], old.Flags[k]) {
			fixed = append(fixed, fmt.Sprintf("%s %v -> %v", k, old.Flags[k], nc.Flags[k]))
		}
	}
	if len(fixed) > 0 {
		return fmt.Errorf("%w: changing %s needs a restart", errConfig, strings.Join(fixed, ", "))
	}
	return nil
}

func sortedKeys(m map[string]any) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

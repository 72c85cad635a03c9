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

	"github.com/hakit/hakit"
	"github.com/hakit/hakit/election/member"
	"github.com/hakit/hakit/election/member/notify"
)

// reloadable are the keys (flags) a SIGHUP applies to the running unit;
// the [[check]] tables and the contents of the key file are applied too.
// A change to any other key needs a restart: the reload is refused and
// the running configuration kept.
var reloadable = []string{"priority", "log-level", "notify", "notify-timeout"}

// watchHUP reloads the configuration, keys included, on every SIGHUP
// until ctx is done: the daemon's one SIGHUP handler.
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

// reload parses the command line, the configuration file and the key
// file again and applies what can change while the unit runs: the keys,
// the priority, the checks, the notify hook, the log level. Anything else
// that changed, or any part that does not parse, refuses the whole
// reload: nothing is applied and the error says why.
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
	// Everything that can fail first, so that a failure applies nothing.
	var applied []string
	var checks []member.Check
	var closers []io.Closer
	newChecks := !reflect.DeepEqual(nc.Checks, old.Checks)
	if newChecks {
		if checks, closers, err = memberChecks(nc.Checks); err != nil {
			return err
		}
	}
	var hook *notify.Hook
	newHook := nc.Hooks != old.Hooks
	if newHook {
		if hook, err = d.newHook(nc.Hooks); err != nil {
			closeAll(closers)
			return err
		}
	}
	undo := func() {
		closeAll(closers)
		if hook != nil {
			hook.Close()
		}
	}
	var was []hakit.Key // the keys before, to put back if the checks fail
	if old.Keys != nil {
		was = old.Keys.Keys()
	}
	keys, err := reloadKeys(old.Keys, nc.Keys)
	if err != nil {
		undo()
		return err
	}
	if newChecks {
		if err := d.unit.SetChecks(checks); err != nil {
			undo()
			if keys != "" {
				_ = old.Keys.Set(was[0], was[1:]...) // they were in use: valid
			}
			return err
		}
		d.mu.Lock()
		closeAll(d.checkClosers)
		d.checkClosers = closers
		d.mu.Unlock()
		applied = append(applied, fmt.Sprintf("%d checks", len(checks)))
	}
	if newHook {
		d.obs.hook.set(hook)
		applied = append(applied, fmt.Sprintf("notify %q (timeout %v)", nc.Hooks.Command, nc.Hooks.Timeout))
	}
	if keys != "" {
		applied = append(applied, keys)
	}
	nc.Keys = old.Keys // the running unit's ring, which holds the new keys now
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

// reloadKeys puts the keys of fresh, the key file as read again, into
// ring, the running unit's (heartbeats and sync change keys without a
// restart), and says what it did; "" when they are the same. On error
// ring is unchanged.
func reloadKeys(ring, fresh *hakit.Keyring) (string, error) {
	if ring == nil || fresh == nil {
		return "", nil
	}
	keys := fresh.Keys()
	if reflect.DeepEqual(keys, ring.Keys()) {
		return "", nil
	}
	if err := ring.Set(keys[0], keys[1:]...); err != nil {
		return "", fmt.Errorf("%w: -key-file: %w", errConfig, err)
	}
	ids := make([]string, len(keys))
	for i, k := range keys {
		ids[i] = fmt.Sprint(k.ID)
	}
	return fmt.Sprintf("keys reloaded (sealing %d, verifying %s)", keys[0].ID, strings.Join(ids, " ")), nil
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

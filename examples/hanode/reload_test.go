package main

import (
	"bytes"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hakit/hakit"
	"github.com/hakit/hakit/election"
	"github.com/hakit/hakit/election/member"
)

// TestReloadAllOrNothing: one SIGHUP reloads the configuration and the
// keys together; a key file that does not read refuses the whole reload
// (the priority and the hook stay as they run), and a good one applies
// both the keys and the notify hook's new command and timeout.
func TestReloadAllOrNothing(t *testing.T) {
	oldS, newS := "the old shared secret, 32 bytes!", "the new shared secret, 32 bytes!"
	key := writeSecretFile(t, "key", []byte("key 1 "+oldS+"\n"), 0o600)
	start := args("-key-file", key, "-notify", "true", "-notify-timeout", "5s")
	c, err := parseConfig(start, io.Discard)
	require.NoError(t, err)
	var logs bytes.Buffer
	d := &daemon{cfg: c, log: slog.New(slog.NewTextHandler(&logs, nil))}
	h, err := d.newHook(c.Hooks)
	require.NoError(t, err)
	d.obs.hook.set(h)
	t.Cleanup(d.obs.hook.close)
	ring := c.Keys
	var level slog.LevelVar

	// A bad key file with a new priority and hook: nothing is applied.
	require.NoError(t, os.WriteFile(key, []byte("key 2\n"), 0o600))
	err = d.reload(args("-key-file", key, "-notify", "false", "-notify-timeout", "1s", "-priority", "250"), &level)
	require.ErrorIs(t, err, errConfig)
	require.ErrorContains(t, err, "-key-file")
	require.Same(t, c, d.cfg, "the running configuration is kept")
	require.Equal(t, []hakit.Key{{ID: 1, Secret: []byte(oldS)}}, ring.Keys())
	require.Same(t, h, d.obs.hook.cur, "the running hook is kept")

	// A good one: keys and hook together.
	require.NoError(t, os.WriteFile(key, []byte("key 2 "+newS+"\nkey 1 "+oldS+"\n"), 0o600))
	require.NoError(t, d.reload(args("-key-file", key, "-notify", "false", "-notify-timeout", "1s"), &level))
	require.Equal(t, []hakit.Key{{ID: 2, Secret: []byte(newS)}, {ID: 1, Secret: []byte(oldS)}}, ring.Keys())
	require.Same(t, ring, d.cfg.Keys)
	require.Equal(t, hookFlags{Command: "false", Timeout: time.Second}, d.cfg.Hooks)
	require.NotSame(t, h, d.obs.hook.cur, "a new hook")
	require.Contains(t, logs.String(), `configuration reloaded: notify \"false\" (timeout 1s), keys reloaded (sealing 2, verifying 2 1)`)

	// No -notify any more: no hook; a reload that changes nothing says so.
	require.NoError(t, d.reload(args("-key-file", key), &level))
	require.Nil(t, d.obs.hook.cur)
	require.NoError(t, d.reload(args("-key-file", key), &level))
	require.Contains(t, logs.String(), "configuration reloaded: nothing changed")
}

// TestNotifierStats: the hook's counters add up over the hooks a reload
// replaced, so that the metrics' counters never go back.
func TestNotifierStats(t *testing.T) {
	d := &daemon{cfg: &config{}, log: slog.New(slog.DiscardHandler)}
	var n notifier
	for range 3 {
		h, err := d.newHook(hookFlags{Command: "true", Timeout: time.Second})
		require.NoError(t, err)
		n.set(h)
		n.Observe(roleChangeEvent())
	}
	n.close()
	require.Equal(t, uint64(3), n.Stats().Runs)
	require.Nil(t, n.cur)
	n.Observe(roleChangeEvent()) // no hook: nothing
	require.Equal(t, uint64(3), n.Stats().Runs)
}

func roleChangeEvent() member.Event {
	return member.Event{Time: time.Now(), Kind: member.EventRoleChange, From: hakit.Secondary, To: hakit.Primary,
		Cause: election.CausePeerLost, Reason: "primary unit 2 lost"}
}

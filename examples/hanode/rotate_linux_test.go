package main

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestE2EKeyRotation needs root: the running pair rotates its shared key
// in the three steps of the key file's doc, each a file change and a
// SIGHUP to both units, while the TCP stream flows: no role change, the
// standby in sync throughout, nothing dropped for its authentication.
func TestE2EKeyRotation(t *testing.T) {
	p := newPair(t)
	oldS, newS := "the old shared secret, 32 bytes!", "the new shared secret, 32 bytes!"
	key := filepath.Join(t.TempDir(), "key")
	require.NoError(t, os.WriteFile(key, []byte("key 1 "+oldS+"\n"), 0o600))
	p.flags = []string{"-key-file", key}
	st := p.established()
	sa0, err := statusOf(p.a)
	require.NoError(t, err)
	sb0, err := statusOf(p.b)
	require.NoError(t, err)

	for _, file := range []string{
		"key 1 " + oldS + "\nkey 2 " + newS + "\n", // every unit accepts the new key
		"key 2 " + newS + "\nkey 1 " + oldS + "\n", // every unit seals with it
		"key 2 " + newS + "\n",                     // the old key is dropped
	} {
		require.NoError(t, os.WriteFile(key, []byte(file), 0o600))
		for _, u := range []*unit{p.a, p.b} {
			require.NoError(t, u.cmd.Process.Signal(syscall.SIGHUP))
		}
		for end := time.Now().Add(time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
			sb, err := statusOf(p.b)
			require.NoError(t, err)
			require.True(t, sb.Sync != nil && sb.Sync.InSync, "B stays in sync")
			require.Equal(t, "secondary", sb.Role)
		}
		p.flowing(st, 20)
	}
	sa, err := statusOf(p.a)
	require.NoError(t, err)
	sb, err := statusOf(p.b)
	require.NoError(t, err)
	require.Equal(t, sa0.RoleLog, sa.RoleLog, "A: no role change")
	require.Equal(t, sb0.RoleLog, sb.RoleLog, "B: no role change")
	for _, s := range []Status{sa, sb} {
		require.Zero(t, s.Counters.Heartbeat.Dropped.Auth, "unit %d: heartbeats dropped for their authentication", s.Unit)
		if s.Counters.Receiver != nil {
			require.Zero(t, s.Counters.Receiver.DropAuth, "unit %d: sync datagrams dropped for their authentication", s.Unit)
		}
	}
	require.Greater(t, sb.Counters.Heartbeat.Received, sb0.Counters.Heartbeat.Received)
	require.GreaterOrEqual(t, sb.Sync.Sessions, sb0.Sync.Sessions)
	for _, u := range []*unit{p.a, p.b} {
		b, _ := os.ReadFile(u.log)
		require.Contains(t, string(b), "keys reloaded", u.name)
	}
	// The old key is gone: a unit still on it would be refused. The stream
	// goes on through A.
	p.onlyForwarder(st, p.a)
}

package main

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hakit/hakit"

	"github.com/hakit/hakit/statesync"
	"github.com/hakit/hakit/statesync/conntrack"
)

var minimal = []string{"-unit-id", "1", "-iface", "eth0"}

func args(extra ...string) []string { return append(append([]string{}, minimal...), extra...) }

func writeSecretFile(t *testing.T, name string, b []byte, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(p, b, mode))
	require.NoError(t, os.Chmod(p, mode)) // past the umask
	return p
}

// TestNoKeyRefused: without a key the daemon does not start unless told,
// by a flag that says so, to run unauthenticated.
func TestNoKeyRefused(t *testing.T) {
	_, err := parseConfig(minimal, io.Discard)
	require.ErrorIs(t, err, errConfig)
	require.ErrorContains(t, err, "-insecure-no-auth")

	var out bytes.Buffer
	require.Equal(t, 2, run(t.Context(), minimal, &out))
	require.Contains(t, out.String(), "no -key-file")

	c, err := parseConfig(args("-insecure-no-auth"), io.Discard)
	require.NoError(t, err)
	require.Nil(t, c.Keys)
	require.Equal(t, []string{insecureWarning}, c.warnings())

	key := writeSecretFile(t, "key", []byte("0123456789abcdef0123\n"), 0o600)
	_, err = parseConfig(args("-insecure-no-auth", "-key-file", key), io.Discard)
	require.ErrorContains(t, err, "exclusive")
	c, err = parseConfig(args("-key-file", key), io.Discard)
	require.NoError(t, err)
	require.NotNil(t, c.Keys)
	require.Empty(t, c.warnings())
}

// TestInsecureWarnsAtStart: every start without a key logs the warning.
func TestInsecureWarnsAtStart(t *testing.T) {
	c, err := parseConfig(args("-insecure-no-auth"), io.Discard)
	require.NoError(t, err)
	var logs bytes.Buffer
	d := &daemon{cfg: c, log: slog.New(slog.NewTextHandler(&logs, nil))}
	d.warnInsecure()
	require.Contains(t, logs.String(), "level=WARN")
	require.Contains(t, logs.String(), "NOT authenticated")
}

// TestKeyFileChecks: a key file others may read, or one of zeros only (never
// filled in), is refused.
func TestKeyFileChecks(t *testing.T) {
	good := []byte("0123456789abcdef0123\n")
	for _, tt := range []struct {
		name string
		b    []byte
		mode os.FileMode
		want string
	}{
		{"world readable", good, 0o666, "group or others"},
		{"group readable", good, 0o640, "group or others"},
		{"zeros", make([]byte, 16), 0o600, "all zeros"},
		{"short", []byte("tooshort\n"), 0o400, "at least 16"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := writeSecretFile(t, "key", tt.b, tt.mode)
			_, err := parseConfig(args("-key-file", p), io.Discard)
			require.ErrorIs(t, err, errConfig)
			require.ErrorContains(t, err, tt.want)
		})
	}
	_, err := parseConfig(args("-key-file", t.TempDir()), io.Discard)
	require.ErrorContains(t, err, "not a regular file")
	p := writeSecretFile(t, "key", good, 0o400)
	_, err = parseConfig(args("-key-file", p), io.Discard)
	require.NoError(t, err)
}

// TestStatusAddress: a status server on anything but loopback needs a token
// or the flag that says it is open to all.
func TestStatusAddress(t *testing.T) {
	base := args("-insecure-no-auth")
	for _, a := range []string{"127.0.0.1:9100", "[::1]:9100", "localhost:9100"} {
		_, err := parseConfig(append(base, "-status", a), io.Discard)
		require.NoError(t, err, a)
	}
	for _, a := range []string{"0.0.0.0:9100", ":9100", "[::]:9100", "198.18.0.1:9100"} {
		_, err := parseConfig(append(base, "-status", a), io.Discard)
		require.ErrorIs(t, err, errConfig, a)
		require.ErrorContains(t, err, "not a loopback address", a)
		_, err = parseConfig(append(base, "-status", a, "-status-insecure-remote"), io.Discard)
		require.NoError(t, err, a)
	}
	token := writeSecretFile(t, "token", []byte("s3cret-token-0123456789\n"), 0o600)
	c, err := parseConfig(append(base, "-status", "0.0.0.0:9100", "-status-token-file", token), io.Discard)
	require.NoError(t, err)
	require.Equal(t, []byte("s3cret-token-0123456789"), c.StatusToken)
	_, err = parseConfig(append(base, "-status-token-file", token), io.Discard)
	require.ErrorContains(t, err, "needs -status")
	loose := writeSecretFile(t, "token", []byte("s3cret-token-0123456789\n"), 0o644)
	_, err = parseConfig(append(base, "-status", "0.0.0.0:9100", "-status-token-file", loose), io.Discard)
	require.ErrorContains(t, err, "group or others")
}

// TestStatusGuard: only the known paths and methods are served, and with a
// token only to a request that carries it.
func TestStatusGuard(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "status") })
	do := func(h http.Handler, method, path, auth string) int {
		r := httptest.NewRequest(method, path, nil)
		if auth != "" {
			r.Header.Set("Authorization", auth)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w.Code
	}
	open := statusGuard(nil, ok)
	require.Equal(t, 200, do(open, "GET", "/", ""))
	require.Equal(t, 200, do(open, "GET", "/status", ""))
	require.Equal(t, 200, do(open, "HEAD", "/", ""))
	require.Equal(t, 404, do(open, "GET", "/debug/pprof/", ""))
	require.Equal(t, 404, do(open, "GET", "/"+strings.Repeat("a", 100), ""))
	require.Equal(t, 405, do(open, "POST", "/", ""))

	locked := statusGuard([]byte("tok-0123456789abcdef"), ok)
	require.Equal(t, 401, do(locked, "GET", "/", ""))
	require.Equal(t, 401, do(locked, "GET", "/", "Bearer wrong"))
	require.Equal(t, 401, do(locked, "GET", "/nope", "")) // nothing learnt about paths without the token
	require.Equal(t, 200, do(locked, "GET", "/", "Bearer tok-0123456789abcdef"))

	s := (&daemon{cfg: &config{}}).statusServer()
	require.NotZero(t, s.ReadHeaderTimeout)
	require.NotZero(t, s.ReadTimeout)
	require.NotZero(t, s.WriteTimeout)
	require.NotZero(t, s.IdleTimeout)
	require.NotZero(t, s.MaxHeaderBytes)
}

// TestSessionGuard: the standby refuses replicated sessions to its own
// addresses and clears marks unless -conntrack-keep-marks.
func TestSessionGuard(t *testing.T) {
	c, err := parseConfig(args("-insecure-no-auth"), io.Discard)
	require.NoError(t, err)
	own := netip.MustParseAddr("198.18.2.1")
	d := &daemon{cfg: c, local: []netip.Addr{own}}
	now := time.Now()
	s := statesync.Session{Key: statesync.Key{Proto: 6, Src: netip.MustParseAddrPort("198.18.1.2:40000"),
		Dst: netip.AddrPortFrom(own, 22)}, Mark: 1}
	require.ErrorIs(t, d.sessionGuard().Check(now, &s), conntrack.ErrRefused)
	s.Key.Dst = netip.MustParseAddrPort("198.18.2.2:22")
	require.NoError(t, d.sessionGuard().Check(now, &s))
	require.Zero(t, s.Mark)

	c, err = parseConfig(args("-insecure-no-auth", "-conntrack-keep-marks"), io.Discard)
	require.NoError(t, err)
	d.cfg, s.Mark = c, 1
	require.NoError(t, d.sessionGuard().Check(now, &s))
	require.Equal(t, uint32(1), s.Mark)
}

func TestMaxSessionsFlag(t *testing.T) {
	c, err := parseConfig(args("-insecure-no-auth"), io.Discard)
	require.NoError(t, err)
	require.Equal(t, statesync.DefaultMaxSessions, c.MaxSessions)
	c, err = parseConfig(args("-insecure-no-auth", "-max-sessions", "-1"), io.Discard)
	require.NoError(t, err)
	require.Equal(t, -1, c.MaxSessions)
	for _, bad := range []string{"0", "-2"} {
		_, err = parseConfig(args("-insecure-no-auth", "-max-sessions", bad), io.Discard)
		require.ErrorContains(t, err, "-max-sessions", bad)
	}
}

// TestKeyFileRotation: a key file of several keys, the first sealing; the
// file reread at SIGHUP rotates the running unit's keys, and a bad file
// leaves them as they were.
func TestKeyFileRotation(t *testing.T) {
	oldS, newS := "the old shared secret, 32 bytes!", "the new shared secret, 32 bytes!"
	p := writeSecretFile(t, "key", []byte("key 1 "+oldS+"\n"), 0o600)
	c, err := parseConfig(args("-key-file", p), io.Discard)
	require.NoError(t, err)
	require.Equal(t, []hakit.Key{{ID: 1, Secret: []byte(oldS)}}, c.Keys.Keys())
	var logs bytes.Buffer
	d := &daemon{cfg: c, log: slog.New(slog.NewTextHandler(&logs, nil))}
	ring := c.Keys
	var level slog.LevelVar
	reload := func() error { return d.reload(args("-key-file", p), &level) }

	for _, step := range []struct {
		file string
		want []hakit.Key
	}{
		{"key 1 " + oldS + "\nkey 2 " + newS + "\n", []hakit.Key{{ID: 1, Secret: []byte(oldS)}, {ID: 2, Secret: []byte(newS)}}},
		{"key 2 " + newS + "\n\nkey 1 " + oldS + "\n", []hakit.Key{{ID: 2, Secret: []byte(newS)}, {ID: 1, Secret: []byte(oldS)}}},
		{"key 2 " + newS + "\n", []hakit.Key{{ID: 2, Secret: []byte(newS)}}},
	} {
		require.NoError(t, os.WriteFile(p, []byte(step.file), 0o600))
		require.NoError(t, reload())
		require.Equal(t, step.want, ring.Keys())
		require.Same(t, ring, d.cfg.Keys, "the running unit's ring, with the new keys")
	}
	require.Contains(t, logs.String(), "keys reloaded")
	for _, bad := range []string{
		"key 2\n",
		"key 0 " + newS + "\n",
		"key 300 " + newS + "\n",
		"key 2 " + newS + "\nkey 2 " + oldS + "\n",
		"key 3 short\n",
		"key 3 " + newS + "\nnot a key line\n",
	} {
		require.NoError(t, os.WriteFile(p, []byte(bad), 0o600))
		require.Error(t, reload(), bad)
		require.Equal(t, []hakit.Key{{ID: 2, Secret: []byte(newS)}}, ring.Keys(), "unchanged after %q", bad)
	}
	require.NoError(t, os.Chmod(p, 0o644))
	require.ErrorContains(t, reload(), "group or others")

	// A single secret is key 1, as before.
	single := writeSecretFile(t, "single", []byte(oldS+"\n"), 0o600)
	c, err = parseConfig(args("-key-file", single), io.Discard)
	require.NoError(t, err)
	require.Equal(t, []hakit.Key{{ID: 1, Secret: []byte(oldS)}}, c.Keys.Keys())
}

package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// get fetches path from u's status server, from inside its namespace.
func get(u *unit, path string) (string, error) {
	var c net.Conn
	if err := u.h.Do(func() error {
		var err error
		c, err = net.DialTimeout("tcp", u.status, time.Second)
		return err
	}); err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := io.WriteString(c, "GET "+path+" HTTP/1.0\r\n\r\n"); err != nil {
		return "", err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	return string(b), err
}

// sample returns the value of the series name{labels…} in a text
// exposition (labels as k="v", in any order), and whether it is there.
func sample(text, name string, labels ...string) (float64, bool) {
next:
	for _, line := range strings.Split(text, "\n") {
		i := strings.LastIndexByte(line, ' ')
		if i < 0 || strings.HasPrefix(line, "#") {
			continue
		}
		series, val := line[:i], line[i+1:]
		n, ls, _ := strings.Cut(series, "{")
		if n != name {
			continue
		}
		for _, l := range labels {
			if !strings.Contains(ls, l) {
				continue next
			}
		}
		v, err := strconv.ParseFloat(val, 64)
		return v, err == nil
	}
	return 0, false
}

// promtoolCheck fails t unless `promtool check metrics` accepts text;
// promtool comes with Debian's prometheus package, which CI installs.
func promtoolCheck(t *testing.T, text string) {
	t.Helper()
	path, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("promtool not found (Debian package prometheus); CI=true requires it")
		}
		t.Skip("promtool not found: install Debian's prometheus package to run this test")
	}
	cmd := exec.Command(path, "check", "metrics")
	cmd.Stdin = strings.NewReader(text)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "promtool check metrics: %s", out)
}

// failoverObserved runs the power-loss failover of TestE2EKillPrimary
// with the units' extra flags, scraping B's /metrics before and after,
// then calls check (if not nil) while the units still run; it returns
// the gap the client's stream saw.
func failoverObserved(t *testing.T, check func(p *pair), flags ...string) time.Duration {
	p := newPair(t)
	p.flags = append(p.flags, flags...)
	st := p.established()
	before, err := get(p.b, "/metrics")
	require.NoError(t, err)
	promtoolCheck(t, before)
	v, _ := sample(before, "hakit_role")
	require.Equal(t, 3.0, v, "B is secondary")
	_, ok := sample(before, "hakit_transitions_total", `to="primary"`)
	require.False(t, ok, "B has never been primary")
	v, _ = sample(before, "hakit_sync_peer_in_sync", `sync_peer="0"`)
	require.Equal(t, 1.0, v)

	st.resetGap()
	p.crash(p.a)
	p.waitStatus(p.b, "primary with addresses up", func(s Status) bool { return s.Role == "primary" && s.Active })
	p.flowing(st, 200)
	gap, _, err := st.gap()
	require.NoError(t, err)
	t.Logf("the client saw a gap of %v", gap.Round(time.Millisecond))

	var after string
	require.Eventually(t, func() bool { // the takeover completes after the addresses are up
		after, err = get(p.b, "/metrics")
		v, _ := sample(after, "hakit_takeovers_total")
		return err == nil && v == 1
	}, 5*time.Second, 20*time.Millisecond, "B's takeover complete in /metrics")
	promtoolCheck(t, after)
	v, _ = sample(after, "hakit_is_primary")
	require.Equal(t, 1.0, v)
	v, _ = sample(after, "hakit_transitions_total", `to="primary"`, `reason="peer_lost"`)
	require.Equal(t, 1.0, v, "one transition to primary, the primary lost:\n%s", after)
	for _, phase := range []string{"election", "sessions", "conntrack injection", "record own MACs", "addresses", "announce", "conntrack follower", "replication"} {
		v, ok := sample(after, "hakit_failover_phase_seconds_count", `phase="`+phase+`"`)
		require.True(t, ok && v == 1, "phase %q observed once:\n%s", phase, after)
	}
	v, _ = sample(after, "hakit_failover_seconds_count")
	require.Equal(t, 1.0, v)
	total, _ := sample(after, "hakit_failover_seconds_sum")
	t.Logf("B's takeover: %.3f s from the verdict to the last step up", total)
	v, _ = sample(after, "hakit_peer_reachable", `peer="2"`)
	require.Equal(t, 0.0, v, "A is lost")
	// The log an operator reads: one info line per role change, with its
	// reason, and no error.
	b, err := os.ReadFile(p.b.log)
	require.NoError(t, err)
	var changes []string
	for _, line := range strings.Split(string(b), "\n") {
		require.NotContains(t, line, "level=ERROR")
		if strings.Contains(line, `msg="election: role change"`) {
			require.Contains(t, line, "level=INFO")
			_, reason, _ := strings.Cut(line, " reason=")
			changes = append(changes, reason)
		}
	}
	require.Equal(t, []string{`"unit 2 is primary"`, `"primary unit 2 lost: unit 3 selected: only candidate"`}, changes)
	if check != nil {
		check(p)
	}
	return gap
}

// TestE2EMetricsAndNotify needs root: the primary loses power; /metrics
// of the unit that takes over shows the transition and the phases of its
// takeover, and passes promtool. The same failover with a -notify
// command that sleeps 10 s on every role change (killed at its 2 s
// timeout) shows the same gap: the hook delays nothing, and is killed at
// its timeout with the process it started.
func TestE2EMetricsAndNotify(t *testing.T) {
	dir := t.TempDir()
	pids, events := filepath.Join(dir, "pids"), filepath.Join(dir, "events")
	t.Cleanup(func() { killListed(pids) }) // A's hook, orphaned by the power loss
	hook := `echo "$HAKIT_UNIT $HAKIT_EVENT $HAKIT_TO" >> ` + events + `; [ "$HAKIT_EVENT" = role_change ] || exit 0; ` +
		`sleep 10 & echo "$HAKIT_UNIT $HAKIT_TO $!" >> ` + pids + `; wait`
	hookKilled := func(p *pair) {
		var pid int
		require.Eventually(t, func() bool {
			b, _ := os.ReadFile(pids)
			for _, line := range strings.Split(string(b), "\n") {
				if f := strings.Fields(line); len(f) == 3 && f[0] == "3" && f[1] == "primary" {
					pid, _ = strconv.Atoi(f[2])
				}
			}
			return pid > 0
		}, 5*time.Second, 10*time.Millisecond, "B's hook runs for its takeover")
		started := time.Now()
		require.True(t, processAlive(pid), "the hook's sleep runs")
		require.Eventually(t, func() bool { return !processAlive(pid) }, 5*time.Second, 10*time.Millisecond,
			"the hook's sleep is killed at the 2 s timeout")
		t.Logf("B's hook for its takeover killed %v after it was seen running", time.Since(started).Round(10*time.Millisecond))
		m, err := get(p.b, "/metrics")
		require.NoError(t, err)
		v, _ := sample(m, "hakit_notify_timeouts_total")
		require.GreaterOrEqual(t, v, 1.0, "counted")
		b, err := os.ReadFile(p.b.log)
		require.NoError(t, err)
		require.Contains(t, string(b), `level=WARN msg="notify: hook timed out and was killed" unit=3 event=role_change`)
	}
	var plain, hooked time.Duration
	t.Run("failover", func(t *testing.T) {
		t.Run("plain", func(t *testing.T) { plain = failoverObserved(t, nil) })
		t.Run("notify sleeping 10s", func(t *testing.T) {
			hooked = failoverObserved(t, hookKilled, "-notify", hook, "-notify-timeout", "2s")
		})
	})
	if t.Failed() {
		return
	}
	t.Logf("gap without a hook %v, with a 10 s hook %v", plain.Round(time.Millisecond), hooked.Round(time.Millisecond))
	// A hook that held up the takeover would add its whole timeout (2 s)
	// at least; scheduling noise between the two beds is less.
	require.Less(t, hooked, plain+time.Second, "the hook delayed the takeover")
}

// processAlive reports whether pid exists and is not a zombie.
func processAlive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	_, rest, _ := strings.Cut(string(b), ") ")
	return !strings.HasPrefix(rest, "Z")
}

// killListed kills the processes listed (the last field of each line)
// that are still running: sleeps this test's hooks started.
func killListed(file string) {
	b, _ := os.ReadFile(file)
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if n, err := strconv.Atoi(f[len(f)-1]); err == nil && processAlive(n) {
			syscall.Kill(n, syscall.SIGKILL)
		}
	}
}

package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// writeUnitConfig writes u's whole configuration to a file (no flags on
// the command line, so that a reload may change anything): the pair's
// addresses, heartbeats everywhere, preemption with short delays, and
// more (checks, …).
func (p *pair) writeUnitConfig(u *unit, path string, priority int, ifaces []string, more string) {
	p.t.Helper()
	q := make([]string, len(ifaces))
	for i, name := range ifaces {
		q[i] = fmt.Sprintf("%q", name)
	}
	conf := fmt.Sprintf(`cluster-id = 7
unit-id = %d
priority = %d
iface = [%s]
vip = ["eth0=%s", "eth1=%s"]
vmac = "interface"
status = %q
state-dir = %q
log-level = "debug"
preempt = true
preempt-delay = "1s"
hold-down = "1s"
insecure-no-auth = true
%s`, u.id(), priority, strings.Join(q, ", "), gwClient, gwServer, u.status, u.stateDir, more)
	require.NoError(p.t, os.WriteFile(path, []byte(conf), 0o600))
}

// startConfig runs the daemon on u with -config path only.
func (p *pair) startConfig(u *unit, path string) {
	p.t.Helper()
	f, err := os.OpenFile(u.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	require.NoError(p.t, err)
	u.cmd = u.h.Command(hanodeBinary(p.t), "-config", path)
	u.cmd.Stdout, u.cmd.Stderr = f, f
	require.NoError(p.t, u.cmd.Start())
	f.Close()
	p.t.Cleanup(func() {
		if u.cmd.ProcessState == nil {
			u.cmd.Process.Kill()
			u.cmd.Wait()
		}
	})
}

func primaryActive(s Status) bool { return s.Role == "primary" && s.Active }
func secondaryIdle(s Status) bool { return s.Role == "secondary" && !s.Active }
func roleLogLen(t *testing.T, u *unit) int {
	t.Helper()
	s, err := statusOf(u)
	require.NoError(t, err)
	return len(s.RoleLog)
}

// TestE2EScriptCheck needs root: a failing script check with weight on the
// primary moves the role to the peer, with the check named in the
// reason, and back once the check passes; a check that flaps every
// 300 ms moves the role at most once.
func TestE2EScriptCheck(t *testing.T) {
	p := newPair(t)
	dir := t.TempDir()
	script := fmt.Sprintf(`if [ -e %[1]s/fail ]; then echo "service down" >&2; exit 1; fi
if [ -e %[1]s/flap ]; then exit $(( $(date +%%s%%N) / 300000000 %% 2 )); fi`, dir)
	check := fmt.Sprintf(`
[[check]]
name = "script"
script = ["/bin/sh", "-c", %q]
interval = "100ms"
timeout = "1s"
fall = 2
rise = 2
weight = 150
`, script)
	confA, confB := filepath.Join(dir, "a.toml"), filepath.Join(dir, "b.toml")
	p.writeUnitConfig(p.a, confA, 200, everywhere, check)
	p.writeUnitConfig(p.b, confB, 100, everywhere, "")
	p.startConfig(p.a, confA)
	p.waitStatus(p.a, "primary with addresses up", primaryActive)
	p.startConfig(p.b, confB)
	p.waitStatus(p.b, "secondary", secondaryIdle)

	require.NoError(t, os.WriteFile(filepath.Join(dir, "fail"), nil, 0o644))
	p.waitStatus(p.a, "effective priority 50", func(s Status) bool {
		return s.Effective == 50 && len(s.Checks) == 1 && s.Checks[0].Failing
	})
	p.waitStatus(p.b, "primary with addresses up", primaryActive)
	p.waitStatus(p.a, "secondary", secondaryIdle)
	s, err := statusOf(p.a)
	require.NoError(t, err)
	require.Equal(t, "exit status 1: service down", s.Checks[0].LastErr)
	require.Contains(t, s.RoleLog[len(s.RoleLog)-1], "check script failed 2 times: exit status 1: service down: priority 200 -> 50")
	log, err := os.ReadFile(p.a.log)
	require.NoError(t, err)
	require.Contains(t, string(log), "check script failed 2 times: exit status 1: service down: priority 200 -> 50")

	require.NoError(t, os.Remove(filepath.Join(dir, "fail")))
	p.waitStatus(p.a, "primary again with addresses up", primaryActive)
	p.waitStatus(p.b, "secondary again", secondaryIdle)
	log, err = os.ReadFile(p.a.log)
	require.NoError(t, err)
	require.Contains(t, string(log), "check script passed 2 times: priority 50 -> 200")

	before := roleLogLen(t, p.a) + roleLogLen(t, p.b)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "flap"), nil, 0o644))
	time.Sleep(6 * time.Second)
	s, err = statusOf(p.a)
	require.NoError(t, err)
	t.Logf("while flapping: A's check ran %d times, failed %d", s.Checks[0].Runs, s.Checks[0].Failures)
	require.Greater(t, s.Checks[0].Failures, uint64(5), "the check flapped")
	moves := roleLogLen(t, p.a) + roleLogLen(t, p.b) - before
	require.LessOrEqual(t, moves, 2, "at most one move (a role change on each unit)")
}

// TestE2EReload needs root: SIGHUP with a higher priority in B's file
// takes effect without a restart (B preempts A), and so does a new notify
// hook and a new check (whose failure stands B down: the role change
// names it, as a cause of its own in the hook, the log and the metrics);
// a changed interface list is refused with a message and B keeps running
// on its old configuration. -check-config validates a file and prints it.
func TestE2EReload(t *testing.T) {
	p := newPair(t)
	dir := t.TempDir()
	confA, confB := filepath.Join(dir, "a.toml"), filepath.Join(dir, "b.toml")
	p.writeUnitConfig(p.a, confA, 200, everywhere, "")
	p.writeUnitConfig(p.b, confB, 100, everywhere, "")
	p.startConfig(p.a, confA)
	p.waitStatus(p.a, "primary with addresses up", primaryActive)
	p.startConfig(p.b, confB)
	p.waitStatus(p.b, "secondary", secondaryIdle)

	hooked := filepath.Join(dir, "hooked")
	hook := fmt.Sprintf("notify = %q\nnotify-timeout = \"2s\"\n", `if [ "$HAKIT_EVENT" = role_change ]; then echo "$HAKIT_TO $HAKIT_CAUSE" >> `+hooked+`; fi`)
	p.writeUnitConfig(p.b, confB, 250, everywhere, hook)
	require.NoError(t, p.b.cmd.Process.Signal(syscall.SIGHUP))
	p.waitStatus(p.b, "priority 250", func(s Status) bool { return s.Priority == 250 && s.Effective == 250 })
	p.waitStatus(p.b, "primary with addresses up", primaryActive)
	p.waitStatus(p.a, "secondary", secondaryIdle)
	log, err := os.ReadFile(p.b.log)
	require.NoError(t, err)
	require.Contains(t, string(log), `msg="configuration reloaded: notify `)
	require.Contains(t, string(log), "(timeout 2s), priority 100 -> 250")
	require.Eventually(t, func() bool {
		b, _ := os.ReadFile(hooked)
		return string(b) == "primary handover\n" // A handed the role over
	}, 5*time.Second, 20*time.Millisecond, "the reloaded hook ran for B's role change")
	require.Equal(t, 1, strings.Count(string(log), "member: started"), "B was not restarted")

	// A check added by a reload runs at once: its weight takes B below A,
	// which takes the role back.
	down := filepath.Join(dir, "down")
	require.NoError(t, os.WriteFile(down, []byte("1\n"), 0o644))
	fileCheck := fmt.Sprintf("[[check]]\nname = \"maintenance\"\nfile = %q\ninterval = \"100ms\"\nweight = 100\n", down)
	p.writeUnitConfig(p.b, confB, 250, everywhere, hook+fileCheck)
	require.NoError(t, p.b.cmd.Process.Signal(syscall.SIGHUP))
	p.waitStatus(p.b, "effective priority 150", func(s Status) bool { return s.Priority == 250 && s.Effective == 150 })
	p.waitStatus(p.a, "primary again with addresses up", primaryActive)
	p.waitStatus(p.b, "secondary again", secondaryIdle)
	require.Eventually(t, func() bool {
		b, _ := os.ReadFile(hooked)
		return string(b) == "primary handover\nsecondary check\n"
	}, 5*time.Second, 20*time.Millisecond, "B stood down for its check")
	log, err = os.ReadFile(p.b.log)
	require.NoError(t, err)
	var standDown string
	for _, line := range strings.Split(string(log), "\n") {
		if strings.Contains(line, `msg="member: role change"`) && strings.Contains(line, "to=secondary") {
			standDown = line
		}
	}
	require.Contains(t, standDown, "level=INFO")
	require.Contains(t, standDown, "cause=check")
	require.Contains(t, standDown, `reason="unit 3 stood down: check maintenance failed once: `)
	require.Equal(t, 1, strings.Count(standDown, " unit="), "the unit named once: %s", standDown)
	metrics, err := get(p.b, "/metrics")
	require.NoError(t, err)
	for name, want := range map[string]float64{"hakit_check_failing": 1, "hakit_check_weight": 100} {
		v, ok := sample(metrics, name, `check="maintenance"`)
		require.True(t, ok, name)
		require.Equal(t, want, v, name)
	}
	v, _ := sample(metrics, "hakit_transitions_total", `to="secondary"`, `reason="check"`)
	require.Equal(t, 1.0, v)

	p.writeUnitConfig(p.b, confB, 10, []string{"eth0", "eth2"}, fileCheck)
	require.NoError(t, p.b.cmd.Process.Signal(syscall.SIGHUP))
	require.Eventually(t, func() bool {
		log, err := os.ReadFile(p.b.log)
		return err == nil && strings.Contains(string(log), "reload refused")
	}, 5*time.Second, 20*time.Millisecond)
	log, err = os.ReadFile(p.b.log)
	require.NoError(t, err)
	require.Contains(t, string(log), "changing iface [eth0 eth1 eth2] -> [eth0 eth2] needs a restart")
	s, err := statusOf(p.b)
	require.NoError(t, err)
	require.Equal(t, uint8(250), s.Priority, "nothing of a refused reload is applied")
	require.Equal(t, uint8(150), s.Effective)
	require.True(t, secondaryIdle(s))
	require.Len(t, s.Peers[0].Links, 3, "heartbeats still on the three interfaces")

	// -check-config: the effective configuration, the command line's
	// flags included; a bad file exits 2.
	var out, errOut bytes.Buffer
	cmd := exec.Command(hanodeBinary(t), "-check-config", confA, "-priority", "42")
	cmd.Stdout, cmd.Stderr = &out, &errOut
	require.NoError(t, cmd.Run(), "%s", errOut.String())
	require.Contains(t, out.String(), "priority = 42\n")
	require.Contains(t, out.String(), `iface = ["eth0", "eth1", "eth2"]`)
	require.NoError(t, os.WriteFile(confA, []byte("unit-id = 2\nifaces = [\"eth0\"]\n"), 0o600))
	cmd = exec.Command(hanodeBinary(t), "-check-config", confA)
	cmd.Stderr = &errOut
	var ee *exec.ExitError
	require.ErrorAs(t, cmd.Run(), &ee)
	require.Equal(t, 2, ee.ExitCode())
	require.Contains(t, errOut.String(), `unknown key "ifaces"`)
}

package main

import (
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// deadInterval is how long the default heartbeat settings take at most to
// declare a silent peer lost: 2 missed heartbeats and the 0.6 s probe
// window.
const deadInterval = 800 * time.Millisecond

// roleChanges reads u's election role-change counter.
func roleChanges(t testing.TB, u *unit) uint64 {
	t.Helper()
	s, err := statusOf(u)
	require.NoError(t, err)
	return s.Counters.Member.Election.RoleChanges
}

// TestE2EFrozenPrimary needs root: the primary's daemon is frozen
// (SIGSTOP) for 2, 5 and 20 times the dead interval while its kernel goes
// on forwarding; the standby takes over and a new TCP stream is opened
// through it during the freeze, and another through the frozen unit's
// kernel (the switches sent the client's traffic there for a moment), which
// only the frozen unit knows. When the frozen daemon resumes (SIGCONT) it
// notices that its own loop stalled and stands down, handing its sessions
// to the unit that kept running first: every stream goes on, exactly one
// unit is primary, and the resume changes at most one role (the frozen
// unit's). The rounds alternate the frozen unit on one bed. (On a loaded
// machine the standby's own loop may stall too, shortly before the resume;
// then neither kept running, the frozen unit may keep the role, and the
// standby hands its sessions over instead: the test says so.)
func TestE2EFrozenPrimary(t *testing.T) {
	p := newPair(t)
	streams := []*stream{p.established()}
	primary, standby := p.a, p.b
	for i, times := range []int{2, 5, 20} {
		freeze := time.Duration(times) * deadInterval
		what := fmt.Sprintf("%s frozen for %v (%d× the dead interval)", primary.name, freeze, times)
		for _, st := range streams {
			st.resetGap()
		}
		before := roleChanges(t, primary)
		require.NoError(t, primary.cmd.Process.Signal(syscall.SIGSTOP))
		frozen := time.Now()
		p.waitStatus(standby, "primary during the freeze", func(s Status) bool { return s.Role == "primary" && s.Active })
		// Shortly before the resume (at once for the shortest freeze), a
		// stream through the frozen unit's kernel; then the switches send
		// everything to the standby again: it does not know that stream,
		// which stalls until the frozen unit hands it over. (Earlier, TCP's
		// retransmissions would back off past the test's patience: 25 s
		// after a 13 s stall.) Then a stream through the standby.
		time.Sleep(time.Until(frozen.Add(freeze - time.Second)))
		p.pinVMAC(primary)
		viaFrozen := p.startStreamTo(netip.AddrPortFrom(serverAddr.Addr(), uint16(8082+2*i)))
		p.flowing(viaFrozen, 50)
		p.pinVMAC(standby)
		streams = append(streams, p.startStreamTo(netip.AddrPortFrom(serverAddr.Addr(), uint16(8081+2*i))))
		for _, st := range streams {
			p.flowing(st, 100)
		}
		streams = append(streams, viaFrozen)
		t.Logf("%s: streams opened after %v", what, time.Since(frozen).Round(time.Millisecond))
		sb, err := statusOf(standby)
		require.NoError(t, err)
		atResume, stalls := sb.Counters.Member.Election.RoleChanges, sb.Counters.Member.Election.Stalls
		time.Sleep(time.Until(frozen.Add(freeze)))
		require.NoError(t, primary.cmd.Process.Signal(syscall.SIGCONT))
		var sp, ss Status
		require.Eventually(t, func() bool {
			var errP, errS error
			sp, errP = statusOf(primary)
			ss, errS = statusOf(standby)
			return errP == nil && errS == nil && sp.Active != ss.Active && len(sp.Peers) > 0 && len(ss.Peers) > 0
		}, 15*time.Second, 20*time.Millisecond, "%s: one primary after the resume", what)
		time.Sleep(time.Second) // long enough for any further role change
		p.unpinVMAC(standby)
		sp, err = statusOf(primary)
		require.NoError(t, err)
		ss, err = statusOf(standby)
		require.NoError(t, err)
		require.NotEqual(t, sp.Active, ss.Active, "%s: exactly one primary: %v / %v", what, sp.RoleLog, ss.RoleLog)
		require.NotZero(t, sp.Counters.Member.Election.Stalls, "%s: the frozen unit noticed its stall", what)
		winner := standby
		if sp.Active {
			// The unit that kept running wins; on a loaded machine the
			// standby's own loop may have stalled too (for more than the
			// stall time, shortly before the resume): then neither kept
			// running, and the election's other rules decide.
			require.Greater(t, ss.Counters.Member.Election.Stalls, stalls,
				"%s: the unit that kept running stays primary: %v", what, ss.RoleLog)
			t.Logf("%s: the standby stalled too (a loaded machine): %s kept the role", what, primary.name)
			winner = primary
		}
		changes := sp.Counters.Member.Election.RoleChanges - before + ss.Counters.Member.Election.RoleChanges - atResume
		require.LessOrEqual(t, changes, uint64(1), "%s: role changes after the resume: %v / %v", what, sp.RoleLog, ss.RoleLog)
		p.t.Cleanup(func() {
			if t.Failed() {
				t.Logf("bridge c: %+v\nbridge s: %+v", p.c.FDB(), p.s.FDB())
				for _, u := range []*unit{p.a, p.b} {
					out, _ := u.h.Run("conntrack", "-L", "-p", "tcp")
					links, _ := u.h.Run("ip", "-br", "link")
					t.Logf("%s:\n%s\n%s", u.name, out, links)
				}
			}
		})
		for j, st := range streams {
			t.Logf("%s: stream %d", what, j+1)
			p.flowing(st, 200)
			p.report(st, fmt.Sprintf("%s, stream %d", what, j+1))
		}
		p.onlyForwarder(streams[0], winner)
		if winner == standby {
			primary, standby = standby, primary
		}
		p.waitStatus(standby, "in-sync secondary", func(s Status) bool {
			return s.Role == "secondary" && s.Sync != nil && s.Sync.InSync && s.Sync.Sessions >= len(streams)
		})
	}
}

// startPiped starts u with its output on a pipe copied to its log, and
// returns the function that closes the pipe's reading end (a log reader
// that goes away).
func (p *pair) startPiped(u *unit, priority int) (closeReader func()) {
	r, w, err := os.Pipe()
	require.NoError(p.t, err)
	u.output = w
	p.start(u, priority)
	u.output = nil
	w.Close()
	f, err := os.OpenFile(u.log, os.O_WRONLY|os.O_APPEND, 0)
	require.NoError(p.t, err)
	go func() {
		io.Copy(f, r)
		f.Close()
	}()
	return func() { r.Close() }
}

// takeOver waits for u to be primary with the addresses up and the
// stream flowing through it alone.
func (p *pair) takeOver(u *unit, st *stream, what string) {
	p.t.Helper()
	p.waitStatus(u, "primary with addresses up", func(s Status) bool { return s.Role == "primary" && s.Active })
	p.flowing(st, 200)
	p.report(st, what)
	p.onlyForwarder(st, u)
}

// rejoin starts u again and waits for it to be the in-sync secondary.
func (p *pair) rejoin(u *unit, priority int) {
	p.t.Helper()
	p.start(u, priority)
	p.waitStatus(u, "in-sync secondary", func(s Status) bool {
		return s.Role == "secondary" && s.Sync != nil && s.Sync.InSync && s.Sync.Sessions >= 1
	})
}

// TestE2EUncleanExit needs root: the ways a daemon ends other than SIGTERM
// and SIGKILL, each on the primary of one bed. SIGQUIT stops it cleanly (a
// handover, exit 0, nothing left behind). A log reader that goes away
// (SIGPIPE on the next write) and SIGPIPE itself are ignored: the daemon
// stays primary. A fatal error of the Go runtime (SIGABRT, SIGSEGV from
// outside: the path of an unrecovered panic) ends the daemon at once, and
// its watchdog releases the virtual MAC and addresses while the peer
// takes over. Last, SIGKILL: nothing runs, but the addresses' lifetime
// (-vip-lifetime, refreshed by the primary all along) runs out and the
// kernel removes them.
func TestE2EUncleanExit(t *testing.T) {
	p := newPair(t)
	p.flags = []string{"-vip-lifetime", "3s"}
	before := map[*unit]string{p.a: systemState(t, p.a), p.b: systemState(t, p.b)}
	prio := map[*unit]int{p.a: 200, p.b: 100}
	// A's first run had a clock an hour ahead (its epochs with it): every
	// restart of A below has a clock behind its last run's.
	epochFile := filepath.Join(p.a.stateDir, "epoch")
	ahead := strconv.FormatInt(time.Now().Add(time.Hour).UnixNano(), 10)
	require.NoError(t, os.WriteFile(epochFile, []byte(ahead+"\n"), 0o600))
	st := p.established()

	// SIGQUIT: a clean stop (SIGHUP reloads: TestE2EReload).
	st.resetGap()
	require.NoError(t, p.a.cmd.Process.Signal(syscall.SIGQUIT))
	require.Equal(t, 0, waitExit(t, p.a, 10*time.Second), "SIGQUIT stops cleanly")
	require.Equal(t, before[p.a], systemState(t, p.a), "SIGQUIT left something behind")
	p.takeOver(p.b, st, "SIGQUIT")
	closeLog := p.startPiped(p.a, prio[p.a])
	p.waitStatus(p.a, "in-sync secondary (its clock behind its last run's)", func(s Status) bool {
		return s.Role == "secondary" && s.Sync != nil && s.Sync.InSync && s.Sync.Sessions >= 1
	})
	sb, err := statusOf(p.b)
	require.NoError(t, err)
	require.Zero(t, sb.Counters.Heartbeat.Dropped.Stale, "B takes A's heartbeats: the epoch counter, not the clock")
	st.resetGap()
	require.NoError(t, p.b.cmd.Process.Signal(syscall.SIGQUIT))
	require.Equal(t, 0, waitExit(t, p.b, 10*time.Second))
	require.Equal(t, before[p.b], systemState(t, p.b))
	p.takeOver(p.a, st, "SIGQUIT (B)")
	p.rejoin(p.b, prio[p.b])

	// The log reader goes away, then SIGPIPE itself: A goes on as primary.
	closeLog()
	require.NoError(t, p.a.cmd.Process.Signal(syscall.SIGPIPE))
	time.Sleep(2 * time.Second) // debug logging writes many times a second
	require.Nil(t, p.a.cmd.ProcessState, "A runs on without its log reader")
	p.waitStatus(p.a, "primary after SIGPIPE", func(s Status) bool { return s.Role == "primary" && s.Active })
	p.flowing(st, 200)

	// Fatal errors: the watchdog releases at once.
	for _, c := range []struct {
		u   *unit
		sig syscall.Signal
	}{{p.a, syscall.SIGABRT}, {p.b, syscall.SIGSEGV}} {
		u, peer := c.u, p.a
		if u == p.a {
			peer = p.b
		}
		what := fmt.Sprintf("%s: %v", u.name, c.sig)
		st.resetGap()
		require.NoError(t, u.cmd.Process.Signal(c.sig))
		require.NotEqual(t, 0, waitExit(t, u, 10*time.Second), what)
		require.Eventually(t, func() bool { return systemState(t, u) == before[u] }, 5*time.Second, 20*time.Millisecond,
			"%s: the watchdog releases the virtual MAC and addresses", what)
		p.takeOver(peer, st, what)
		if u != p.a { // A's output went to the closed pipe
			log, err := os.ReadFile(u.log)
			require.NoError(t, err)
			require.Contains(t, string(log), "released after the crash", what)
		}
		p.rejoin(u, prio[u])
	}

	// SIGKILL with the links up: the kernel drops the addresses.
	out, err := p.a.h.Run("ip", "-br", "addr")
	require.NoError(t, err)
	require.Contains(t, out, gwClient.String(), "A holds the addresses (refreshed past their lifetime)")
	st.resetGap()
	require.NoError(t, p.a.cmd.Process.Kill())
	p.a.cmd.Wait()
	killed := time.Now()
	require.Eventually(t, func() bool {
		out, err := p.a.h.Run("ip", "-br", "addr")
		return err == nil && !strings.Contains(out, gwClient.String()) && !strings.Contains(out, gwServer.String())
	}, 6*time.Second, 50*time.Millisecond, "the kernel removes the killed daemon's addresses")
	t.Logf("SIGKILL: the addresses were gone %v after the kill", time.Since(killed).Round(100*time.Millisecond))
	p.takeOver(p.b, st, "SIGKILL (addresses' lifetime)")

	// Without the counter, A's epochs come from its clock, behind its
	// first run's: B drops its heartbeats as stale, for good.
	require.NoError(t, os.Remove(epochFile))
	p.start(p.a, prio[p.a])
	require.Eventually(t, func() bool {
		s, err := statusOf(p.b)
		return err == nil && s.Counters.Heartbeat.Dropped.Stale > 0
	}, 10*time.Second, 50*time.Millisecond, "B ignores A's heartbeats as stale")
	time.Sleep(2 * time.Second)
	sb, err = statusOf(p.b)
	require.NoError(t, err)
	require.NotEqual(t, "alive", linkState(sb, 2, "eth0"), "B does not hear A")
}

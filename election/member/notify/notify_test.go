package notify_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hakit/hakit"
	"github.com/hakit/hakit/election"
	"github.com/hakit/hakit/election/member"
	"github.com/hakit/hakit/election/member/notify"
	"github.com/hakit/hakit/heartbeat"
	"github.com/hakit/hakit/internal/testlog"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)

func roleChange() member.Event {
	return member.Event{Time: t0, Kind: member.EventRoleChange, From: hakit.Secondary, To: hakit.Primary,
		Cause: election.CausePeerLost, Reason: "primary unit 2 lost: unit 1 selected: available, unit 2 is", Peer: 2}
}

func TestKind(t *testing.T) {
	for k, want := range map[member.EventKind]string{
		member.EventRoleChange: "role_change", member.EventReannounceFailed: "re_announce_failed",
		member.EventTakeover: "takeover_complete", member.EventDownFailed: "step_down_failed",
		member.EventKind(200): "eventkind_200",
	} {
		require.Equal(t, want, notify.Kind(k))
	}
}

func TestRecordEnv(t *testing.T) {
	env := notify.NewRecord(7, 1, roleChange()).Env()
	require.Equal(t, []string{"HAKIT_EVENT=role_change", "HAKIT_TIME=2026-01-02T03:04:05.000000006Z",
		"HAKIT_CLUSTER=7", "HAKIT_UNIT=1", "HAKIT_PEER=2", "HAKIT_FROM=secondary", "HAKIT_TO=primary",
		"HAKIT_CAUSE=peer_lost", "HAKIT_REASON=primary unit 2 lost: unit 1 selected: available, unit 2 is"}, env)

	tk := &member.Takeover{Fault: t0, Elected: t0.Add(225 * time.Millisecond), Attempts: 1,
		Steps: []member.StepTime{{Step: "sessions", Done: t0.Add(226 * time.Millisecond)}, {Step: "record own MACs", Done: t0.Add(230 * time.Millisecond)}},
		Done:  t0.Add(230 * time.Millisecond)}
	env = notify.NewRecord(7, 1, member.Event{Time: t0, Kind: member.EventTakeover, Takeover: tk}).Env()
	require.Contains(t, env, "HAKIT_TAKEOVER_SECONDS=0.230")
	require.Contains(t, env, "HAKIT_PHASES=election=0.225;sessions=0.001;record own MACs=0.004")

	in := false
	r := notify.NewRecord(7, 1, member.Event{Time: t0, Kind: member.EventSync})
	require.Equal(t, &in, r.InSync)
	require.Contains(t, r.Env(), "HAKIT_IN_SYNC=false")
	r = notify.NewRecord(7, 1, member.Event{Time: t0, Kind: member.EventStepFailed, Step: "addresses", Action: member.Up, Err: errors.New("EBUSY")})
	require.Subset(t, r.Env(), []string{"HAKIT_EVENT=step_failed", "HAKIT_STEP=addresses", "HAKIT_ACTION=up", "HAKIT_ERROR=EBUSY"})
}

func TestNotable(t *testing.T) {
	require.True(t, notify.Notable(roleChange()))
	require.True(t, notify.Notable(member.Event{Kind: member.EventHeartbeat, State: heartbeat.PeerDown}))
	require.False(t, notify.Notable(member.Event{Kind: member.EventHeartbeat, State: heartbeat.Suspect}))
	require.False(t, notify.Notable(member.Event{Kind: member.EventDropped}))
	require.False(t, notify.Notable(member.Event{Kind: member.EventStep}))
	require.True(t, notify.Notable(member.Event{Kind: member.EventKind(200)}), "new kinds are notable")
}

func needShell(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("the hook tests run /bin/sh")
	}
}

func TestHookEnvironment(t *testing.T) {
	needShell(t)
	out := filepath.Join(t.TempDir(), "env")
	h, err := notify.NewHook(&notify.HookConfig{Command: []string{"/bin/sh", "-c", `env | grep ^HAKIT_ | sort >> "$OUT"; echo >> "$OUT"`},
		Cluster: 7, Unit: 1})
	require.NoError(t, err)
	t.Setenv("OUT", out)
	h.Observe(member.Event{Time: t0, Kind: member.EventStep}) // not notable
	h.Observe(roleChange())
	h.Close()
	h.Observe(roleChange()) // closed: dropped
	b, err := os.ReadFile(out)
	require.NoError(t, err)
	require.Equal(t, "HAKIT_CAUSE=peer_lost\nHAKIT_CLUSTER=7\nHAKIT_EVENT=role_change\nHAKIT_FROM=secondary\nHAKIT_PEER=2\n"+
		"HAKIT_REASON=primary unit 2 lost: unit 1 selected: available, unit 2 is\n"+
		"HAKIT_TIME=2026-01-02T03:04:05.000000006Z\nHAKIT_TO=primary\nHAKIT_UNIT=1\n\n", string(b))
	require.Equal(t, notify.HookStats{Runs: 1, Dropped: 1}, h.Stats())
}

// alive reports whether process pid exists and is not a zombie.
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	_, rest, _ := strings.Cut(string(b), ") ")
	return !strings.HasPrefix(rest, "Z")
}

// TestHookTimeout: a hook that sleeps 10 s is killed at its 300 ms
// timeout with the child it started, counted and logged; Observe never
// waits for it, and the next event's hook runs after the kill.
func TestHookTimeout(t *testing.T) {
	needShell(t)
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc")
	}
	dir := t.TempDir()
	var log testlog.Buffer
	h, err := notify.NewHook(&notify.HookConfig{Timeout: 300 * time.Millisecond, Logger: log.Logger(slog.LevelInfo),
		Command: []string{"/bin/sh", "-c", `sleep 10 & echo $! > "$DIR/$HAKIT_EVENT.pid"; wait`}})
	require.NoError(t, err)
	defer h.Close()
	t.Setenv("DIR", dir)
	h.Observe(roleChange())
	h.Observe(member.Event{Time: t0, Kind: member.EventTakeover, Takeover: &member.Takeover{}})
	// Observe returned with the first hook still running (or not yet
	// started): it waits for nothing.
	require.Zero(t, h.Stats().TimedOut)
	pidOf := func(kind string) int {
		var pid int
		require.Eventually(t, func() bool {
			b, err := os.ReadFile(filepath.Join(dir, kind+".pid"))
			pid, _ = strconv.Atoi(strings.TrimSpace(string(b)))
			return err == nil && pid > 0
		}, 5*time.Second, 5*time.Millisecond)
		return pid
	}
	first := pidOf("role_change")
	// The second runs only once the first is gone, sleep included.
	second := pidOf("takeover_complete")
	require.False(t, alive(first), "the first hook's sleep was killed")
	require.Equal(t, uint64(1), h.Stats().TimedOut)
	require.Eventually(t, func() bool { return h.Stats().TimedOut == 2 }, 5*time.Second, 5*time.Millisecond)
	require.Eventually(t, func() bool { return !alive(second) }, 5*time.Second, 5*time.Millisecond)
	require.Equal(t, notify.HookStats{Runs: 2, TimedOut: 2}, h.Stats())
	require.Contains(t, log.String(), "level=WARN msg=\"notify: hook timed out and was killed\" event=role_change")
}

func TestHookFailsAndDrops(t *testing.T) {
	needShell(t)
	var log testlog.Buffer
	gate := filepath.Join(t.TempDir(), "gate")
	h, err := notify.NewHook(&notify.HookConfig{Queue: 1, Logger: log.Logger(slog.LevelInfo),
		Command: []string{"/bin/sh", "-c", `while [ ! -e "$GATE" ]; do sleep 0.01; done; echo broken >&2; exit 3`}})
	require.NoError(t, err)
	t.Setenv("GATE", gate)
	for range 5 {
		h.Observe(roleChange())
	}
	// One runs (or is about to), one waits, the rest are dropped.
	require.GreaterOrEqual(t, h.Stats().Dropped, uint64(3))
	require.NoError(t, os.WriteFile(gate, nil, 0o644))
	h.Close()
	s := h.Stats()
	require.Equal(t, uint64(5), s.Runs+s.Dropped)
	require.Equal(t, s.Runs, s.Failed)
	require.Contains(t, log.String(), `msg="notify: hook failed" event=role_change command=/bin/sh err="exit status 3" output=broken`)
	require.Equal(t, 1, strings.Count(log.String(), "hook skipped"), "drop warnings are rate limited")

	h, err = notify.NewHook(&notify.HookConfig{Command: []string{filepath.Join(t.TempDir(), "missing")}, Logger: log.Logger(slog.LevelInfo)})
	require.NoError(t, err)
	h.Observe(roleChange())
	h.Close()
	require.Equal(t, notify.HookStats{Runs: 1, Failed: 1}, h.Stats())
	require.Contains(t, log.String(), "cannot run")
}

func TestHookConfig(t *testing.T) {
	for _, c := range []*notify.HookConfig{nil, {}, {Command: []string{""}}, {Command: []string{"x"}, Timeout: -1}} {
		_, err := notify.NewHook(c)
		require.ErrorIs(t, err, hakit.ErrConfig)
	}
}

func TestStream(t *testing.T) {
	s := notify.NewStream(&notify.StreamConfig{Cluster: 7, Unit: 1, MaxSubscribers: 1})
	srv := httptest.NewServer(s)
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, "application/x-ndjson", resp.Header.Get("Content-Type"))
	require.Eventually(t, func() bool { return s.Subscribers() == 1 }, 5*time.Second, time.Millisecond)
	busy, err := http.Get(srv.URL)
	require.NoError(t, err)
	busy.Body.Close()
	require.Equal(t, http.StatusServiceUnavailable, busy.StatusCode)

	s.Observe(member.Event{Time: t0, Kind: member.EventHeartbeat, State: heartbeat.Suspect}) // not notable
	s.Observe(roleChange())
	s.Observe(member.Event{Time: t0, Kind: member.EventHeartbeat, Peer: 2, Interface: "eth0", State: heartbeat.PeerDown})
	sc := bufio.NewScanner(resp.Body)
	require.True(t, sc.Scan())
	require.JSONEq(t, `{"time":"2026-01-02T03:04:05.000000006Z","kind":"role_change","cluster":7,"unit":1,"peer":2,
		"from":"secondary","to":"primary","cause":"peer_lost","reason":"primary unit 2 lost: unit 1 selected: available, unit 2 is"}`, sc.Text())
	require.True(t, sc.Scan())
	require.JSONEq(t, `{"time":"2026-01-02T03:04:05.000000006Z","kind":"heartbeat","cluster":7,"unit":1,"peer":2,
		"interface":"eth0","state":"peer-down"}`, sc.Text())
	s.Close()
	require.False(t, sc.Scan(), "the stream ends at Close")
	require.Eventually(t, func() bool { return s.Subscribers() == 0 }, 5*time.Second, time.Millisecond)
}

// gatedWriter is a ResponseWriter whose writes wait for the gate.
type gatedWriter struct {
	h    http.Header
	gate chan struct{}
	mu   sync.Mutex
	buf  bytes.Buffer
	n    int // writes started
}

func (g *gatedWriter) Header() http.Header { return g.h }
func (g *gatedWriter) WriteHeader(int)     {}
func (g *gatedWriter) Flush()              {}
func (g *gatedWriter) Write(p []byte) (int, error) {
	g.mu.Lock()
	g.n++
	g.mu.Unlock()
	<-g.gate
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.buf.Write(p)
}

// TestStreamLost: a subscriber that does not keep up loses events and is
// told how many, in order, in a record of kind "lost".
func TestStreamLost(t *testing.T) {
	s := notify.NewStream(&notify.StreamConfig{Buffer: 2})
	w := &gatedWriter{h: http.Header{}, gate: make(chan struct{})}
	req := httptest.NewRequest("GET", "/events", nil)
	done := make(chan struct{})
	go func() { s.ServeHTTP(w, req); close(done) }()
	require.Eventually(t, func() bool { return s.Subscribers() == 1 }, 5*time.Second, time.Millisecond)
	ev := func(peer uint16) member.Event {
		return member.Event{Time: t0, Kind: member.EventSplitBrain, Peer: peer}
	}
	s.Observe(ev(1)) // taken by the writer, which blocks writing it
	require.Eventually(t, func() bool { w.mu.Lock(); defer w.mu.Unlock(); return w.n == 1 }, 5*time.Second, time.Millisecond)
	for p := uint16(2); p <= 6; p++ {
		s.Observe(ev(p)) // 2 and 3 fill the buffer; 4, 5, 6 are lost
	}
	close(w.gate)
	require.Eventually(t, func() bool { w.mu.Lock(); defer w.mu.Unlock(); return strings.Count(w.buf.String(), "\n") == 3 }, 5*time.Second, time.Millisecond)
	s.Observe(ev(7)) // after the lost record
	require.Eventually(t, func() bool { w.mu.Lock(); defer w.mu.Unlock(); return strings.Count(w.buf.String(), "\n") == 5 }, 5*time.Second, time.Millisecond)
	s.Close()
	<-done
	var got []string
	sc := bufio.NewScanner(&w.buf)
	for sc.Scan() {
		var r notify.Record
		require.NoError(t, json.Unmarshal(sc.Bytes(), &r))
		got = append(got, r.Kind+" "+strconv.Itoa(int(r.Peer))+" "+strconv.Itoa(int(r.Lost)))
	}
	require.Equal(t, []string{"split_brain 1 0", "split_brain 2 0", "split_brain 3 0", "lost 0 3", "split_brain 7 0"}, got)
}

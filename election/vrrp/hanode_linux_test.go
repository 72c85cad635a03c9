package vrrp

// hanode on the interoperation bed: the daemon of examples/hanode, built
// once per test binary and run in a unit's namespace, either with
// -protocol vrrp (paired with keepalived) or with hakit's own heartbeats
// (a hakit-only pair, for comparison). Its state is read from its status
// server.

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var (
	hanodeOnce sync.Once
	hanodeBin  string
	hanodeErr  error
)

// hanodeBinary builds examples/hanode once per test binary, into a
// directory TestMain removes.
func (b *bed) hanodeBinary() string {
	b.t.Helper()
	hanodeOnce.Do(func() {
		dir, err := os.MkdirTemp("", "hanode-vrrp-bed")
		if err != nil {
			hanodeErr = err
			return
		}
		hanodeBin = filepath.Join(dir, "hanode")
		out, err := exec.Command("go", "build", "-o", hanodeBin, "github.com/hakit/hakit/examples/hanode").CombinedOutput()
		if err != nil {
			hanodeErr = fmt.Errorf("go build: %v: %s", err, out)
		}
	})
	require.NoError(b.t, hanodeErr)
	return hanodeBin
}

func TestMain(m *testing.M) {
	code := m.Run()
	if hanodeBin != "" {
		os.RemoveAll(filepath.Dir(hanodeBin))
	}
	os.Exit(code)
}

// hanodeStatusAddr is where every hanode serves its status, in its own
// namespace.
const hanodeStatusAddr = "127.0.0.1:9100"

// hanode is a hanode process running for a unit.
type hanode struct{ proc }

// hanodeVRRP returns the flags of a hanode unit of the bed's virtual
// router: VRID 51, the bed's interval and addresses, priority p.
func (b *bed) hanodeVRRP(p int, more ...string) []string {
	args := []string{"-protocol", "vrrp", "-vrrp-vrid", "51", "-priority", strconv.Itoa(p),
		"-vrrp-advert-interval", bedInterval.String()}
	for _, a := range b.addrs {
		if a.IsLinkLocalUnicast() {
			args = append(args, "-vrrp-link-local", a.String())
		}
	}
	return append(args, more...)
}

// startHanode runs hanode on u with the bed's address and args, and waits
// for its status server.
func (b *bed) startHanode(u *unit, args ...string) *hanode {
	b.t.Helper()
	bits := 24
	if b.v6 {
		bits = 64
	}
	dir := filepath.Join(b.dir, fmt.Sprintf("hanode-%s-%d", u.name, time.Now().UnixNano()))
	require.NoError(b.t, os.MkdirAll(dir, 0o700))
	all := append([]string{"-unit-id", strconv.Itoa(int(u.id)), "-iface", "eth0",
		"-vip", fmt.Sprintf("eth0=%s/%d", b.vip, bits), "-status", hanodeStatusAddr,
		"-state-dir", dir}, args...)
	h := &hanode{}
	h.start(u, filepath.Join(dir, "log"), b.hanodeBinary(), all...)
	b.waitFor(10*time.Second, "hanode on "+u.name+" serving its status", func() bool {
		_, err := h.status()
		return err == nil
	})
	return h
}

// hanodeStatus is the part of hanode's status the bed reads.
type hanodeStatus struct {
	Role string `json:"role"`
	Sync *struct {
		Sending bool `json:"sending"`
		InSync  bool `json:"in_sync"`
	} `json:"sync"`
	VRRP *struct {
		State string `json:"state"`
		Peers []struct {
			Addr     string `json:"addr"`
			Priority uint8  `json:"priority"`
			Checksum string `json:"checksum"`
		} `json:"peers"`
		Counters Counters `json:"counters"`
	} `json:"vrrp"`
}

// status reads h's status server from inside its namespace.
func (h *hanode) status() (hanodeStatus, error) {
	var s hanodeStatus
	return s, h.u.host.GetJSON(hanodeStatusAddr, &s)
}

// state is the unit's role as a VRRP state: primary is Master; a unit
// that does not answer (stopped, killed) is in Initialize.
func (h *hanode) state() State {
	select {
	case <-h.done:
		return Initialize
	default:
	}
	s, err := h.status()
	switch {
	case err != nil:
		return Initialize
	case s.Role == "primary":
		return Master
	case s.Role == "secondary":
		return Backup
	}
	return Initialize
}

// stop is a clean stop: SIGTERM; with -protocol vrrp the Master sends
// priority 0, releases everything and exits 0.
func (h *hanode) stop() {
	h.signal(syscall.SIGTERM)
	require.Zero(h.u.bed.t, h.code, "hanode's exit status after SIGTERM")
}

// die kills hanode (SIGKILL: nothing sent, the addresses left in place)
// and pulls the unit's cable at the same moment.
func (h *hanode) die() {
	randomPhase()
	h.u.bed.tb.DownAll(func() { h.signal(syscall.SIGKILL) }, h.u.link)
	h.u.dead = true
}

// revive puts the unit back as a rebooted one would be. The virtual MAC
// a killed hanode may have left is put back by the next hanode's start.
func (h *hanode) revive() { h.u.revive() }

package election

import (
	"encoding/binary"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/mdlayher/packet"
	"github.com/stretchr/testify/require"

	"github.com/hakit/hakit"
	"github.com/hakit/hakit/internal/testbed"
)

// bedUnit runs a Driver on the real clock with candidates carried in raw
// Ethernet frames over an AF_PACKET socket inside a test-bed namespace, and
// a plain liveness rule (lost after 3 silent intervals: the bridge does not
// lose frames; loss is the simulated tests' subject).
type bedUnit struct {
	t    *testing.T
	id   uint16
	conn *packet.Conn
	mac  net.HardwareAddr
	d    *Driver

	mu          sync.Mutex
	lastHeard   map[uint16]time.Time
	seq         uint32
	reannounces int
	changes     []Output
	done        chan struct{}
	wg          sync.WaitGroup
}

func startBedUnit(t *testing.T, h *testbed.Host, l *testbed.Link, id uint16) *bedUnit {
	t.Helper()
	ifi := h.Interface(l.Name())
	u := &bedUnit{t: t, id: id, mac: ifi.HardwareAddr, lastHeard: map[uint16]time.Time{}, done: make(chan struct{})}
	require.NoError(t, h.Do(func() error {
		var err error
		u.conn, err = packet.Listen(ifi, packet.Raw, simEtherType, nil)
		return err
	}))
	d, err := NewDriver(unitConfig(id), u.output)
	require.NoError(t, err)
	u.d = d
	d.Local(Status{Monitored: 1, InSync: true})
	d.Start()
	u.wg.Add(3)
	go u.heartbeats()
	go u.read()
	go u.liveness()
	t.Cleanup(u.stop)
	return u
}

// stop kills the unit: no more heartbeats, reads or decisions.
func (u *bedUnit) stop() {
	select {
	case <-u.done:
		return
	default:
	}
	close(u.done)
	u.d.Close()
	u.conn.Close()
	u.wg.Wait()
}

func (u *bedUnit) output(o Output) {
	u.mu.Lock()
	if o.Changed {
		u.changes = append(u.changes, o)
	}
	if o.ReAnnounce {
		u.reannounces++
	}
	u.mu.Unlock()
	if o.Send {
		u.send()
	}
}

func (u *bedUnit) send() {
	u.mu.Lock()
	u.seq++
	seq := u.seq
	u.mu.Unlock()
	bcast := net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	f := append(append(append([]byte(nil), bcast...), u.mac...), 0x88, 0xb5, kindHB)
	f = binary.BigEndian.AppendUint32(f, seq)
	f = u.d.AppendCandidate(f)
	_, _ = u.conn.WriteTo(f, &packet.Addr{HardwareAddr: bcast})
}

func (u *bedUnit) heartbeats() {
	defer u.wg.Done()
	tk := time.NewTicker(100 * time.Millisecond)
	defer tk.Stop()
	for {
		select {
		case <-u.done:
			return
		case <-tk.C:
			u.send()
		}
	}
}

func (u *bedUnit) read() {
	defer u.wg.Done()
	buf := make([]byte, 1500)
	last := map[uint16]uint32{}
	for {
		n, _, err := u.conn.ReadFrom(buf)
		if err != nil {
			return // closed
		}
		f := buf[:n]
		if n < 19+CandidateLen || binary.BigEndian.Uint16(f[12:14]) != simEtherType || f[14] != kindHB {
			continue
		}
		seq, payload := binary.BigEndian.Uint32(f[15:19]), f[19:19+CandidateLen]
		peer := binary.BigEndian.Uint16(payload[4:6])
		if s, ok := last[peer]; ok && seq <= s {
			continue
		}
		last[peer] = seq
		u.mu.Lock()
		u.lastHeard[peer] = time.Now()
		u.mu.Unlock()
		_ = u.d.ObserveBinary(payload)
	}
}

func (u *bedUnit) liveness() {
	defer u.wg.Done()
	tk := time.NewTicker(20 * time.Millisecond)
	defer tk.Stop()
	for {
		select {
		case <-u.done:
			return
		case <-tk.C:
		}
		var lost []uint16
		u.mu.Lock()
		for peer, at := range u.lastHeard {
			if time.Since(at) > 300*time.Millisecond {
				lost = append(lost, peer)
				delete(u.lastHeard, peer)
			}
		}
		u.mu.Unlock()
		for _, p := range lost {
			u.d.PeerLost(p)
		}
	}
}

func (u *bedUnit) reannounced() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.reannounces
}

func bedPrimaries(us ...*bedUnit) []uint16 {
	var p []uint16
	for _, u := range us {
		select {
		case <-u.done:
			continue
		default:
		}
		if u.d.Role() == hakit.Primary {
			p = append(p, u.id)
		}
	}
	return p
}

// TestBedElection runs a two-unit election over real veth links and a Linux
// bridge: the initial election, a cable pulled at the switch (both go
// active), the cable back (split brain settled, the winner re-announces),
// and the primary's failure.
func TestBedElection(t *testing.T) {
	tb := testbed.New(t)
	br := tb.Bridge("lan")
	ha, hb := tb.Host("a"), tb.Host("b")
	la, lb := tb.Link(ha, br, "eth0"), tb.Link(hb, br, "eth0")
	a := startBedUnit(t, ha, la, 1)
	b := startBedUnit(t, hb, lb, 2)
	eventually := func(what string, want []uint16, within time.Duration) time.Duration {
		t.Helper()
		start := time.Now()
		require.Eventually(t, func() bool {
			return equalUnits(bedPrimaries(a, b), want)
		}, within, 5*time.Millisecond, "%s: primaries %v, want %v", what, bedPrimaries(a, b), want)
		return time.Since(start)
	}
	eventually("initial election", []uint16{1}, 5*time.Second)
	time.Sleep(3 * time.Second) // let unit 1's tenure build up

	lb.Down()
	took := eventually("cable pulled at the switch", []uint16{1, 2}, 5*time.Second)
	t.Logf("unit 2 alone went active %v after its cable was pulled", took)
	lb.Up()
	took = eventually("cable back", []uint16{1}, 5*time.Second)
	t.Logf("split brain settled %v after the cable came back", took)
	defer func() { t.Logf("unit 1 re-announced %d times", a.reannounced()) }()
	require.Eventually(t, func() bool { return a.reannounced() >= 1 }, time.Second, 5*time.Millisecond,
		"unit 1 re-announced %d times; counters %+v", a.reannounced(), a.d.Counters())
	require.Zero(t, b.reannounced())

	time.Sleep(time.Second)
	a.stop()
	took = eventually("primary failed", []uint16{2}, 5*time.Second)
	t.Logf("unit 2 took over %v after unit 1 stopped (3 missed heartbeats and a tick)", took)
}

func equalUnits(a, b []uint16) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

package vmac

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
)

// maxReports bounds how many distinct collisions a GuardDriver remembers (and so
// reports); later new ones are counted in the Guard's stats and logged only.
const maxReports = 1024

// GuardDriver is the thin driver around a Guard: it reads frames from one or more
// connections (Serve), takes heartbeat facts from the caller
// (CheckHeartbeat), and calls the report function the first time each
// distinct collision is seen. It is safe for concurrent use.
type GuardDriver struct {
	mu     sync.Mutex
	g      *Guard
	report func(*CollisionError)
	log    *slog.Logger
	seen   map[string]bool
}

// NewGuardDriver returns a GuardDriver around g, which it owns from now on (use the
// GuardDriver's methods, not g's). report, if not nil, is called once per
// distinct collision (same kind, interface, unit, addresses), from the
// goroutine that found it; it must not block. A nil log discards.
func NewGuardDriver(g *Guard, report func(*CollisionError), log *slog.Logger) *GuardDriver {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &GuardDriver{g: g, report: report, log: log, seen: make(map[string]bool)}
}

// SetHolding tells the Guard whether this unit holds the virtual MACs.
func (m *GuardDriver) SetHolding(holding bool) {
	m.mu.Lock()
	m.g.SetHolding(holding)
	m.mu.Unlock()
}

// SetMembers is Guard.SetMembers.
func (m *GuardDriver) SetMembers(members map[uint16][]net.HardwareAddr) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.g.SetMembers(members)
}

// CheckHeartbeat is Guard.CheckHeartbeat, reporting a collision too.
func (m *GuardDriver) CheckHeartbeat(ifname string, clusterID, unitID uint16, src net.HardwareAddr) error {
	m.mu.Lock()
	err := m.g.CheckHeartbeat(ifname, clusterID, unitID, src)
	m.mu.Unlock()
	m.found(err)
	return err
}

// Stats returns the Guard's counters.
func (m *GuardDriver) Stats() GuardStats {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.g.Stats()
}

// Serve reads whole Ethernet frames (destination, source, EtherType, ...)
// from conn, received on the interface ifname, and checks each frame's
// source MAC, until conn is closed (it then returns nil: net.ErrClosed and
// os.ErrClosed both count as closed) or fails. Read
// deadlines are tolerated: a timeout just continues. conn must not deliver
// frames this unit sent (ListenFrames does not; a simnet port does not).
func (m *GuardDriver) Serve(ifname string, conn net.PacketConn) error {
	buf := make([]byte, 128) // only the header matters; longer frames are truncated
	for {
		n, _, err := conn.ReadFrom(buf)
		switch {
		case errors.Is(err, net.ErrClosed), errors.Is(err, os.ErrClosed):
			return nil
		case errors.Is(err, os.ErrDeadlineExceeded):
			continue
		case err != nil:
			return fmt.Errorf("vmac: guard driver %q: %w", ifname, err)
		}
		var src net.HardwareAddr
		if n >= 14 {
			src = buf[6:12]
		}
		m.mu.Lock()
		cerr := m.g.CheckFrame(ifname, src)
		m.mu.Unlock()
		m.found(cerr)
	}
}

// found logs and reports err, once per distinct collision.
func (m *GuardDriver) found(err error) {
	var ce *CollisionError
	if !errors.As(err, &ce) {
		return
	}
	k := fmt.Sprintf("%d|%s|%d|%s|%s", ce.Kind, ce.Interface, ce.UnitID, ce.MAC, ce.From)
	m.mu.Lock()
	first := !m.seen[k] && len(m.seen) < maxReports
	if first {
		m.seen[k] = true
	}
	m.mu.Unlock()
	if !first {
		return
	}
	m.log.Warn("cluster identity collision", "kind", ce.Kind.String(), "cluster", ce.ClusterID,
		"unit", ce.UnitID, "mac", ce.MAC.String(), "from", ce.From.String(), "interface", ce.Interface)
	if m.report != nil {
		m.report(ce)
	}
}

// ListenFrames opens a socket on the interface ifname that receives the
// whole Ethernet frames whose source MAC is one of macs, sent by other
// stations (never frames this host sends), for GuardDriver.Serve. On Linux it
// is an AF_PACKET socket with a kernel filter on the source MAC and
// PACKET_IGNORE_OUTGOING; it needs CAP_NET_RAW and is opened in the calling
// thread's network namespace. The interface is not made promiscuous, so
// frames are seen when they are broadcast, multicast, flooded or addressed
// to this host. Other platforms return an error wrapping
// errors.ErrUnsupported.
func ListenFrames(ifname string, macs []net.HardwareAddr) (net.PacketConn, error) {
	if len(macs) == 0 {
		return nil, fmt.Errorf("vmac: listen on %q: no MACs: %w", ifname, ErrInvalid)
	}
	for _, mac := range macs {
		if err := checkUnicastMAC(mac); err != nil {
			return nil, err
		}
	}
	return listenFrames(ifname, macs)
}

package garp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/mdlayher/packet"

	"github.com/hakit/hakit"
)

// ARPForm selects the gratuitous ARP shapes a Driver sends for IPv4.
type ARPForm uint8

const (
	// RequestForm sends gratuitous ARP requests, what keepalived and most
	// appliances send.
	RequestForm ARPForm = iota
	// ReplyForm sends gratuitous ARP replies instead.
	ReplyForm
	// BothForms sends a request and a reply for each address in each pass,
	// for networks with hosts that heed only one of them.
	BothForms
)

// String returns the form's name, as "request form".
func (f ARPForm) String() string {
	switch f {
	case RequestForm:
		return "request form"
	case ReplyForm:
		return "reply form"
	case BothForms:
		return "both forms"
	}
	return fmt.Sprintf("ARPForm(%d)", uint8(f))
}

// Config configures a Driver. A nil *Config means DefaultConfig(); zero
// fields take their defaults.
type Config struct {
	// Schedule sets the bursts, the refresh and the rate limit; nil means
	// DefaultSchedule.
	Schedule *Schedule
	// ARP selects request or reply form for IPv4; the zero value is
	// RequestForm.
	ARP ARPForm
	// Router sets the Router flag of the neighbour advertisements: set it
	// when the IPv6 addresses are the hosts' default gateway.
	Router bool
	// Open returns the whole-Ethernet-frame transport of an interface (an
	// AF_PACKET socket, a simulated port). The Driver opens an interface on
	// the first Announce for it and closes the conn when no move is left on
	// it, on Stop, and after a write error. After an error the rest of the
	// frames due at that moment are dropped (counted), and the next ones
	// due open it again, so an interface that comes back is used again.
	// nil means opening
	// the named interface with Listen, which only Linux supports.
	Open func(ifname string) (net.PacketConn, error)
	// Clock drives the schedule; nil means hakit.RealClock().
	Clock hakit.Clock
	// Logger receives announcements and errors; nil discards them.
	Logger *slog.Logger
}

// Stats counts what a Driver did. All counters only grow.
type Stats struct {
	// Announces and Withdraws count accepted calls.
	Announces, Withdraws uint64
	// Invalid counts moves refused by Announce or Withdraw as malformed.
	Invalid uint64
	// Sent counts frames written, by kind.
	SentARP, SentNA, SentLearn uint64
	// SendErrors counts failed writes (the interface went away, or down).
	SendErrors uint64
	// OpenErrors counts failures to open an interface.
	OpenErrors uint64
	// Dropped counts frames not written because their interface had just
	// failed (a write error or a failed open) when they fell due.
	Dropped uint64
}

// Sent returns the number of frames written, of every kind.
func (s Stats) Sent() uint64 { return s.SentARP + s.SentNA + s.SentLearn }

// ErrInterface is wrapped by the errors for interfaces that cannot be
// opened.
var ErrInterface = errors.New("interface unavailable")

// Driver is the ARP/NDP Announcer: on Announce it sends gratuitous ARP for
// the IPv4 addresses, unsolicited neighbour advertisements for the IPv6 ones
// and learning frames for the Learn MACs, on the Schedule, until Withdraw or
// Stop. It is the thin driver of a Machine: it owns the clock's timer and
// the interfaces' conns. It is safe for concurrent use.
type Driver struct {
	sched  *Machine
	arp    ARPForm
	router bool
	open   func(string) (net.PacketConn, error)
	clock  hakit.Clock
	log    *slog.Logger

	mu      sync.Mutex
	conns   map[string]net.PacketConn
	failing map[string]bool // interfaces whose last write or open failed
	stats   Stats
	out     []Send
	broken  []string // interfaces that failed during the current run
	gen     uint64   // generation of the armed timer
	stop    func() bool
}

var _ Announcer = (*Driver)(nil)

// DefaultConfig returns the defaults, each with its reason.
func DefaultConfig() *Config {
	sc := DefaultSchedule() // keepalived's bursts, ours commented on Schedule
	return &Config{
		Schedule: &sc,
		// What keepalived and most appliances send; every host heeds it.
		ARP: RequestForm,
		// The addresses are not a router's unless the caller says so.
		Router: false,
		// Nil: AF_PACKET sockets opened with Listen, the only way to send
		// whole Ethernet frames on Linux.
		Open: nil,
	}
}

// Validate reports an invalid schedule or ARP form, as an error wrapping
// hakit.ErrConfig. A nil c is DefaultConfig().
func (c *Config) Validate() error {
	if c == nil {
		return nil
	}
	if c.Schedule != nil {
		if err := c.Schedule.Validate(); err != nil {
			return err
		}
	}
	if c.ARP > BothForms {
		return fmt.Errorf("garp: ARP form %d: %w", c.ARP, hakit.ErrConfig)
	}
	return nil
}

// NewDriver returns a Driver, or an error wrapping hakit.ErrConfig if cfg is
// invalid. A nil cfg means DefaultConfig(); a nil Schedule DefaultSchedule.
func NewDriver(cfg *Config) (*Driver, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg == nil {
		cfg = DefaultConfig()
	}
	sc := DefaultSchedule()
	if cfg.Schedule != nil {
		sc = *cfg.Schedule
	}
	sched, err := NewMachine(sc)
	if err != nil {
		return nil, err
	}
	s := &Driver{
		sched:   sched,
		arp:     cfg.ARP,
		router:  cfg.Router,
		open:    cfg.Open,
		clock:   cfg.Clock,
		log:     cfg.Logger,
		conns:   make(map[string]net.PacketConn),
		failing: make(map[string]bool),
	}
	if s.open == nil {
		s.open = listenByName
	}
	if s.clock == nil {
		s.clock = hakit.RealClock()
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	return s, nil
}

func listenByName(name string) (net.PacketConn, error) {
	ifi, err := net.InterfaceByName(name)
	if err != nil {
		return nil, err
	}
	return Listen(ifi)
}

// moveKey names a move in the Machine: its MAC, or "" for a Learn-only
// move.
func moveKey(m Move) string {
	if m.MAC == nil {
		return ""
	}
	return m.MAC.String()
}

// frames builds m's frames, in the order of a pass: the addresses, then the
// Learn MACs.
func (s *Driver) frames(m Move) ([][]byte, error) {
	var fs [][]byte
	add := func(a Announcement) error {
		f, err := Marshal(a)
		if err != nil {
			return err
		}
		fs = append(fs, f)
		return nil
	}
	for _, ip := range m.Addrs {
		var err error
		switch {
		case ip.Is6():
			err = add(Announcement{Kind: UnsolicitedNA, MAC: m.MAC, Addr: ip, Router: s.router})
		case s.arp == ReplyForm:
			err = add(Announcement{Kind: GARPReply, MAC: m.MAC, Addr: ip})
		case s.arp == BothForms:
			err = errors.Join(add(Announcement{Kind: GARPRequest, MAC: m.MAC, Addr: ip}),
				add(Announcement{Kind: GARPReply, MAC: m.MAC, Addr: ip}))
		default:
			err = add(Announcement{Kind: GARPRequest, MAC: m.MAC, Addr: ip})
		}
		if err != nil {
			return nil, err
		}
	}
	for _, mac := range m.Learn {
		if err := add(Announcement{Kind: Learn, MAC: mac}); err != nil {
			return nil, err
		}
	}
	return fs, nil
}

// Announce starts announcing m: it opens m.Interface if it is not open yet,
// sends the first pass of the burst before it returns (as far as the rate
// limit allows) and schedules the rest. Announcing a move that is already
// being announced (same interface and MAC) restarts it with m's addresses,
// as a new takeover. Write errors after the interface was opened are counted
// and logged, not returned.
func (s *Driver) Announce(ctx context.Context, m Move) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("garp: announce: %w", err)
	}
	nm, err := m.normalize()
	var fs [][]byte
	if err == nil {
		fs, err = s.frames(nm)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.stats.Invalid++
		return err
	}
	if _, err := s.conn(nm.Interface); err != nil {
		return err
	}
	now := s.clock.Now()
	s.sched.Start(now, nm.Interface, moveKey(nm), fs)
	s.stats.Announces++
	s.log.Info("garp: announcing", "interface", nm.Interface, "mac", nm.MAC.String(),
		"addrs", len(nm.Addrs), "learn", len(nm.Learn), "frames", len(fs))
	s.run(now)
	return nil
}

// Withdraw stops announcing the move on m.Interface with m.MAC (m's
// addresses are not looked at): no frame of it is written after Withdraw
// returns. The interface is closed when no move is left on it.
func (s *Driver) Withdraw(ctx context.Context, m Move) error {
	if m.Interface == "" {
		s.mu.Lock()
		s.stats.Invalid++
		s.mu.Unlock()
		return fmt.Errorf("garp: withdraw without an interface: %w", ErrMove)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sched.Stop(m.Interface, moveKey(m)) {
		s.stats.Withdraws++
		s.log.Info("garp: withdrawn", "interface", m.Interface, "mac", m.MAC.String())
	}
	if s.sched.iface(m.Interface) == nil {
		s.closeConn(m.Interface)
	}
	s.run(s.clock.Now())
	return nil
}

// Stop withdraws every move at once, as on demotion: no frame is written
// after Stop returns. It closes the interfaces. The Driver stays usable: a
// later Announce starts over.
func (s *Driver) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sched.StopAll()
	s.disarm()
	for name := range s.conns {
		s.closeConn(name)
	}
	s.log.Info("garp: stopped")
}

// Stats returns a snapshot of the counters.
func (s *Driver) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// run sends what is due at now and arms the timer for what is next. It is
// called with s.mu held, so Stop and Withdraw wait for a pass in progress.
func (s *Driver) run(now time.Time) {
	var next time.Time
	s.out, next = s.sched.Tick(now, s.out[:0])
	s.broken = s.broken[:0]
	for i := range s.out {
		s.write(&s.out[i])
	}
	clear(s.out) // drop the frames' references until the next run
	s.disarm()
	if next.IsZero() {
		return
	}
	s.gen++
	gen := s.gen
	s.stop = s.clock.AfterFunc(next.Sub(now), func() { s.fire(gen) })
}

func (s *Driver) fire(gen uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if gen != s.gen || s.stop == nil {
		return // disarmed after the clock had already started the call
	}
	s.stop = nil
	s.run(s.clock.Now())
}

func (s *Driver) disarm() {
	if s.stop != nil {
		s.stop()
		s.stop = nil
	}
	s.gen++
}

// Destinations of the frames this package builds, shared so that writes do
// not allocate.
var (
	broadcastAddr = &packet.Addr{HardwareAddr: broadcastMAC}
	allNodesAddr  = &packet.Addr{HardwareAddr: allNodesMAC}
)

func (s *Driver) write(x *Send) {
	if slices.Contains(s.broken, x.Interface) {
		s.stats.Dropped++
		return
	}
	c, err := s.conn(x.Interface)
	if err != nil {
		s.broken = append(s.broken, x.Interface)
		s.stats.Dropped++
		return
	}
	addr, kind := broadcastAddr, &s.stats.SentARP
	switch {
	case x.Frame[12] == 0x86 && x.Frame[13] == 0xdd:
		addr, kind = allNodesAddr, &s.stats.SentNA
	case x.Frame[28] == 0 && x.Frame[29] == 0 && x.Frame[30] == 0 && x.Frame[31] == 0:
		kind = &s.stats.SentLearn // an ARP probe from 0.0.0.0
	}
	if _, err := c.WriteTo(x.Frame, addr); err != nil {
		s.stats.SendErrors++
		if !s.failing[x.Interface] {
			s.failing[x.Interface] = true
			s.log.Warn("garp: write failed; reopening the interface at the next frame",
				"interface", x.Interface, "err", err)
		}
		s.closeConn(x.Interface)
		s.broken = append(s.broken, x.Interface)
		return
	}
	*kind++
	if s.failing[x.Interface] {
		delete(s.failing, x.Interface)
		s.log.Info("garp: interface works again", "interface", x.Interface)
	}
}

// conn returns the open conn of an interface, opening it if needed.
func (s *Driver) conn(name string) (net.PacketConn, error) {
	if c := s.conns[name]; c != nil {
		return c, nil
	}
	c, err := s.open(name)
	if err != nil || c == nil {
		if err == nil {
			err = errors.New("open returned no conn")
		}
		s.stats.OpenErrors++
		if !s.failing[name] {
			s.failing[name] = true
			s.log.Warn("garp: cannot open interface", "interface", name, "err", err)
		}
		return nil, fmt.Errorf("garp: interface %s: %w: %w", name, ErrInterface, err)
	}
	s.conns[name] = c
	return c, nil
}

func (s *Driver) closeConn(name string) {
	if c := s.conns[name]; c != nil {
		_ = c.Close()
		delete(s.conns, name)
	}
}

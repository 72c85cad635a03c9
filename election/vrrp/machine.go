package vrrp

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/hakit/hakit"
)

// State is a VRRP router's state for one virtual router (RFC 9568 section
// 6.4; RFC 9568 calls Master "Active"). The zero value is invalid.
type State uint8

// The states.
const (
	// Initialize: not running (before Start, after Shutdown).
	Initialize State = iota + 1
	// Backup: monitoring the Master; takes over when it falls silent.
	Backup
	// Master: forwarding for the virtual addresses and advertising.
	Master
)

// String returns the state's name, as keepalived writes it.
func (s State) String() string {
	switch s {
	case Initialize:
		return "INIT"
	case Backup:
		return "BACKUP"
	case Master:
		return "MASTER"
	}
	return fmt.Sprintf("State(%d)", uint8(s))
}

// Packet is one received VRRP message with what the IP layer said of it.
type Packet struct {
	// Src and Dst are the IP source and destination addresses.
	Src, Dst netip.Addr
	// TTL is the IPv4 TTL or IPv6 hop limit the packet arrived with.
	TTL uint8
	// Data is the IP payload: the VRRP message.
	Data []byte
}

// Output is what one call of a Machine decided. The caller sends the
// advertisement if Send, acts on a state change if Changed, and calls Tick
// at Next.
type Output struct {
	// State is the state after the call.
	State State
	// Changed reports that the state changed in this call, from From;
	// Reason says why, in words. On a change to Master the caller sends
	// the advertisement first and then takes over: the virtual MAC and
	// addresses, and gratuitous ARP (IPv4) or unsolicited neighbour
	// advertisements (IPv6) for each address. On a change from Master it
	// releases them.
	Changed bool
	From    State
	Reason  string
	// Send asks the caller to send Advert now: to the multicast group, or
	// to each of Config.Peers, sealed (Advertisement.Seal) for each
	// destination with Config.Checksum and Config.Primary as the source.
	Send   bool
	Advert Advertisement
	// Next is when to call Tick: the Adver_Timer of a Master or the
	// Master_Down_Timer of a Backup. It is zero in Initialize.
	Next time.Time
	// Notice, when not empty, is something about a peer the user should
	// know, in words: its first advertisement and checksum form, a change
	// of form, an interval or address list that differs from ours, two
	// address owners. It is set once per occurrence, not per advertisement.
	Notice string
}

// Counters are a Machine's running totals. Sent, SendErrors and
// ReadErrors are the Driver's, zero in a Machine's own.
type Counters struct {
	// Received counts advertisements accepted (all checks passed).
	Received uint64
	// Sent counts advertisements sent (per destination), SendErrors those
	// that could not be, ReadErrors failed reads.
	Sent, SendErrors, ReadErrors uint64
	// ReceivedPseudoHeader and ReceivedMessageOnly count accepted IPv4
	// advertisements by checksum form (IPv6 ones count as pseudo-header).
	ReceivedPseudoHeader, ReceivedMessageOnly uint64
	// PriorityZeroReceived and PriorityZeroSent count priority 0
	// advertisements: a Master stopping.
	PriorityZeroReceived, PriorityZeroSent uint64
	// BecameMaster and BecameBackup count state changes.
	BecameMaster, BecameBackup uint64
	// The drops, by reason (each an error wrapping the sentinel named).
	DroppedTTL       uint64 // ErrTTL
	DroppedVersion   uint64 // ErrVersion
	DroppedMalformed uint64 // ErrMalformed and short messages
	DroppedChecksum  uint64 // ErrChecksum
	DroppedType      uint64 // ErrType
	DroppedSource    uint64 // ErrSource
	// OtherVRID counts advertisements of other virtual routers (ErrVRID).
	OtherVRID uint64
	// Ignored counts advertisements received in Initialize.
	Ignored uint64
	// IntervalMismatch counts advertisements whose interval differs from
	// AdvertInterval, AddrMismatch those whose address list differs from
	// Addrs (RFC 9568 section 7.1: logged, not dropped), OwnerConflicts
	// priority 255 advertisements received by an address owner.
	IntervalMismatch, AddrMismatch, OwnerConflicts uint64
	// UntrackedPeers counts advertisements from routers beyond MaxPeers.
	UntrackedPeers uint64
}

// PeerStatus is what this router knows of another router of its virtual
// router, from its advertisements.
type PeerStatus struct {
	// Addr is the router's primary address (the advertisements' source).
	Addr netip.Addr
	// Priority and Interval are from its last advertisement.
	Priority uint8
	Interval time.Duration
	// Checksum is the form of its last advertisement's checksum.
	Checksum ChecksumForm
	// PseudoHeader and MessageOnly count its advertisements by form.
	PseudoHeader, MessageOnly uint64
	// Last is when its last advertisement was received.
	Last time.Time
}

// Status is a snapshot of a Machine.
type Status struct {
	State State
	// Priority is this router's current priority.
	Priority uint8
	// Master is the address of the Master this Backup follows (the source
	// of the last advertisement that set its timer), or Config.Primary as
	// Master; invalid when none is known.
	Master netip.Addr
	// MasterInterval is Master_Adver_Interval (RFC 9568's
	// Active_Adver_Interval): the interval the Master advertises, which a
	// Backup adopts; MasterDown the Master_Down_Interval derived from it.
	MasterInterval, MasterDown time.Duration
	// Accept reports whether, as Master, this router accepts packets
	// addressed to the virtual addresses: it owns them, or AcceptMode.
	Accept bool
	// Peers are the routers heard from, at most MaxPeers, in the order
	// first heard.
	Peers    []PeerStatus
	Counters Counters
}

// downCause says why a Backup's Master_Down_Timer was last set.
type downCause uint8

const (
	downStart  downCause = iota + 1 // Initialize → Backup
	downSilent                      // an advertisement from a Master (reset)
	downResign                      // a priority 0 advertisement (Skew_Time)
	downDemote                      // Master → Backup
)

// Machine is the VRRP state machine of one virtual router (RFC 9568
// section 6.4), as a pure core: it takes time as an argument, reads no
// clock, starts no goroutine and sends nothing. Its methods return an
// Output. It is not safe for concurrent use; Driver serialises calls.
type Machine struct {
	cfg      Config
	is6      bool
	state    State
	priority uint8
	// masterInt is Master_Adver_Interval; timer the one pending timer.
	masterInt time.Duration
	timer     time.Time
	// why, from and prio record what last set a Backup's timer, for the
	// Reason when it fires.
	why    downCause
	from   netip.Addr
	prio   uint8
	master netip.Addr

	peers    []PeerStatus
	counters Counters
	rx       Advertisement // the decoding buffer
}

// New returns a Machine for cfg, in Initialize; call Start.
func New(cfg *Config) (*Machine, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	c := cfg.withDefaults()
	return &Machine{
		cfg:      c,
		is6:      c.Addrs[0].Is6(),
		state:    Initialize,
		priority: c.Priority,
		rx:       Advertisement{Addrs: make([]netip.Addr, 0, MaxAddrs)},
	}, nil
}

// State returns the current state.
func (m *Machine) State() State { return m.state }

// Counters returns the running totals.
func (m *Machine) Counters() Counters { return m.counters }

// Status returns a snapshot.
func (m *Machine) Status() Status {
	s := Status{
		State:          m.state,
		Priority:       m.priority,
		Master:         m.master,
		MasterInterval: m.masterInt,
		MasterDown:     MasterDownInterval(m.priority, m.masterInt),
		Accept:         m.cfg.Priority == PriorityOwner || m.cfg.AcceptMode,
		Peers:          slices.Clone(m.peers),
		Counters:       m.counters,
	}
	if m.state == Master {
		s.Master = m.cfg.Primary
	}
	return s
}

// Config returns the configuration in force, defaults applied.
func (m *Machine) Config() Config { return m.cfg }

// advert returns the advertisement this router sends now, with priority p.
// Its Addrs alias the configuration: the caller must not modify them.
func (m *Machine) advert(p uint8) Advertisement {
	return Advertisement{
		Version:           Version,
		Type:              TypeAdvertisement,
		VRID:              m.cfg.VRID,
		Priority:          p,
		MaxAdvertInterval: m.cfg.interval(),
		Addrs:             m.cfg.Addrs,
	}
}

// out returns an Output of the current state.
func (m *Machine) out() Output {
	return Output{State: m.state, Next: m.timer}
}

// send marks o to send an advertisement of priority p.
func (m *Machine) send(o *Output, p uint8) {
	o.Send, o.Advert = true, m.advert(p)
	if p == PriorityStop {
		m.counters.PriorityZeroSent++
	}
}

// change moves to state to, for reason.
func (m *Machine) change(o *Output, to State, reason string) {
	o.Changed, o.From, o.Reason = true, m.state, reason
	m.state, o.State = to, to
	switch to {
	case Master:
		m.counters.BecameMaster++
		m.master = m.cfg.Primary
	case Backup:
		m.counters.BecameBackup++
	}
}

// Start is the Startup event (RFC 9568 section 6.4.1). The address owner
// sends an advertisement and becomes Master; any other router sets
// Master_Adver_Interval to its Advertisement_Interval and its
// Master_Down_Timer to Master_Down_Interval, and becomes Backup. Outside
// Initialize it changes nothing.
func (m *Machine) Start(now time.Time) Output {
	o := m.out()
	if m.state != Initialize {
		return o
	}
	m.masterInt = m.cfg.AdvertInterval
	if m.priority == PriorityOwner {
		m.send(&o, m.priority)
		m.timer = now.Add(m.cfg.AdvertInterval)
		m.change(&o, Master, "address owner (priority 255): Master at startup")
	} else {
		m.setDown(now, downStart, netip.Addr{}, 0, MasterDownInterval(m.priority, m.masterInt))
		m.master = netip.Addr{}
		m.change(&o, Backup, fmt.Sprintf("started: waiting Master_Down_Interval %v for a Master", MasterDownInterval(m.priority, m.masterInt)))
	}
	o.Next = m.timer
	return o
}

// Shutdown is the Shutdown event (RFC 9568 sections 6.4.2 and 6.4.3): a
// Master sends an advertisement of priority 0, so that the Backups take
// over after Skew_Time; either state cancels its timer and goes to
// Initialize. In Initialize it changes nothing.
func (m *Machine) Shutdown(now time.Time) Output {
	o := m.out()
	switch m.state {
	case Master:
		m.send(&o, PriorityStop)
		m.change(&o, Initialize, "shut down: sent priority 0 so that a Backup takes over after its Skew_Time")
	case Backup:
		m.change(&o, Initialize, "shut down")
	default:
		return o
	}
	m.timer, m.master = time.Time{}, netip.Addr{}
	o.Next = m.timer
	return o
}

// SetPriority changes this router's priority to p, 1 to 254 (for tracking:
// a failed check lowers it). The address owner's priority is fixed, and no
// router can become the owner this way. A Master sends an advertisement at
// once, so that a Backup that now has the higher priority preempts without
// waiting for the next interval.
func (m *Machine) SetPriority(now time.Time, p uint8) (Output, error) {
	o := m.out()
	switch {
	case m.cfg.Priority == PriorityOwner:
		return o, fmt.Errorf("vrrp: the address owner's priority stays 255: %w", hakit.ErrConfig)
	case p == PriorityStop || p == PriorityOwner:
		return o, fmt.Errorf("vrrp: priority %d: it must be 1 to 254: %w", p, hakit.ErrConfig)
	}
	if p == m.priority {
		return o, nil
	}
	m.priority = p
	if m.state == Master {
		m.send(&o, p)
	}
	return o, nil
}

// Tick fires the timer when it is due: a Master's Adver_Timer sends an
// advertisement and restarts; a Backup's Master_Down_Timer sends one and
// makes it Master (RFC 9568 section 6.4.2). Before Next it changes
// nothing.
func (m *Machine) Tick(now time.Time) Output {
	o := m.out()
	if m.timer.IsZero() || now.Before(m.timer) {
		return o
	}
	switch m.state {
	case Master:
		m.send(&o, m.priority)
	case Backup:
		m.send(&o, m.priority)
		m.change(&o, Master, m.downReason())
	}
	m.timer = now.Add(m.cfg.AdvertInterval)
	o.Next = m.timer
	return o
}

// downReason says why a Backup's Master_Down_Timer fired.
func (m *Machine) downReason() string {
	d := MasterDownInterval(m.priority, m.masterInt)
	switch m.why {
	case downResign:
		return fmt.Sprintf("Master %v stopped (priority 0): took over after Skew_Time %v", m.from, SkewTime(m.priority, m.masterInt))
	case downSilent:
		return fmt.Sprintf("no advertisement from Master %v (priority %d) for Master_Down_Interval %v", m.from, m.prio, d)
	case downDemote:
		return fmt.Sprintf("no advertisement from %v (priority %d) for Master_Down_Interval %v since it took the role", m.from, m.prio, d)
	default:
		return fmt.Sprintf("no advertisement for Master_Down_Interval %v after start", d)
	}
}

// setDown sets a Backup's Master_Down_Timer to now+d, recording why.
func (m *Machine) setDown(now time.Time, why downCause, from netip.Addr, prio uint8, d time.Duration) {
	m.timer = now.Add(d)
	m.why, m.from, m.prio = why, from, prio
}

// Receive processes one received message: the checks of RFC 9568 section
// 7.1 (TTL or hop limit 255, version 3, a complete message, the checksum in
// either form, this VRID, an advertisement, a non-zero interval) and this
// instance's own (the source is not this router and, with unicast peers,
// is one of them), then the state machine's rules for an ADVERTISEMENT.
// A message that fails a check is dropped and counted, changes nothing,
// and comes back as an error that says why.
func (m *Machine) Receive(now time.Time, p Packet) (Output, error) {
	o := m.out()
	if m.state == Initialize {
		m.counters.Ignored++
		return o, nil
	}
	form, err := m.check(p)
	if err != nil {
		m.countDrop(err)
		return o, err
	}
	a, src := &m.rx, p.Src.WithZone("")
	m.counters.Received++
	if form == ChecksumMessageOnly {
		m.counters.ReceivedMessageOnly++
	} else {
		m.counters.ReceivedPseudoHeader++
	}
	if a.Priority == PriorityStop {
		m.counters.PriorityZeroReceived++
	}
	o.Notice = m.track(now, src, a, form)

	switch m.state {
	case Backup:
		switch {
		case a.Priority == PriorityStop:
			// "Set the Active_Down_Timer to Skew_Time"
			m.setDown(now, downResign, src, 0, SkewTime(m.priority, m.masterInt))
		case m.cfg.NoPreempt || a.Priority >= m.priority:
			// "Set Active_Adver_Interval to the Max Advertise Interval
			// contained in the ADVERTISEMENT, recompute the Skew_Time and
			// the Active_Down_Interval, set the Active_Down_Timer to it."
			m.masterInt = a.Interval()
			m.master = src
			m.setDown(now, downSilent, src, a.Priority, MasterDownInterval(m.priority, m.masterInt))
		default:
			// "Discard the ADVERTISEMENT": preempt, and it has a lower
			// priority; the timer runs on.
		}
	case Master:
		switch {
		case a.Priority == PriorityStop:
			// "Send an ADVERTISEMENT, reset the Adver_Timer"
			m.send(&o, m.priority)
			m.timer = now.Add(m.cfg.AdvertInterval)
		case a.Priority > m.priority || a.Priority == m.priority && src.Compare(m.cfg.Primary) > 0:
			// "Cancel Adver_Timer, set Active_Adver_Interval ..., set the
			// Active_Down_Timer to Active_Down_Interval, transition to the
			// Backup state"
			reason := fmt.Sprintf("%v advertises priority %d, higher than ours (%d)", src, a.Priority, m.priority)
			if a.Priority == m.priority {
				reason = fmt.Sprintf("%v advertises the same priority (%d) and has the higher address", src, a.Priority)
			}
			m.masterInt = a.Interval()
			m.setDown(now, downDemote, src, a.Priority, MasterDownInterval(m.priority, m.masterInt))
			m.change(&o, Backup, reason)
			m.master = src
		default:
			// "Discard the ADVERTISEMENT, send an ADVERTISEMENT immediately
			// to assert the Active state to the sending VRRP Router and to
			// update any learning bridges with the correct Active VRRP
			// Router path."
			m.send(&o, m.priority)
		}
	}
	o.Next = m.timer
	return o, nil
}

// check runs the receive checks on p and decodes it into m.rx. It returns
// the checksum form of an advertisement that passes.
func (m *Machine) check(p Packet) (ChecksumForm, error) {
	want := uint8(255)
	if !p.Dst.IsMulticast() {
		want = m.cfg.MinUnicastTTL
	}
	if p.TTL < want {
		return 0, fmt.Errorf("vrrp: from %v: TTL %d, want %d: %w", p.Src, p.TTL, want, ErrTTL)
	}
	a := &m.rx
	if err := a.UnmarshalBinary(p.Data); err != nil {
		return 0, fmt.Errorf("vrrp: from %v: %w", p.Src, err)
	}
	if a.Is6() != m.is6 || p.Src.Is6() != m.is6 || p.Dst.Is6() != m.is6 || !p.Src.IsValid() || !p.Dst.IsValid() {
		return 0, fmt.Errorf("vrrp: from %v to %v: addresses of the wrong family for this instance: %w", p.Src, p.Dst, ErrMalformed)
	}
	form, err := a.Verify(p.Src.WithZone(""), p.Dst.WithZone(""))
	if err != nil {
		return 0, err
	}
	switch {
	case a.VRID != m.cfg.VRID:
		return 0, fmt.Errorf("vrrp: from %v: VRID %d, ours is %d: %w", p.Src, a.VRID, m.cfg.VRID, ErrVRID)
	case a.Type != TypeAdvertisement:
		return 0, fmt.Errorf("vrrp: from %v: type %d: %w", p.Src, a.Type, ErrType)
	case a.MaxAdvertInterval == 0:
		return 0, fmt.Errorf("vrrp: from %v: max advertise interval 0: %w", p.Src, ErrMalformed)
	}
	src := p.Src.WithZone("")
	if src == m.cfg.Primary {
		return 0, fmt.Errorf("vrrp: advertisement from our own address %v (looped back, or another router uses it): %w", src, ErrSource)
	}
	if len(m.cfg.Peers) > 0 && !slices.Contains(m.cfg.Peers, src) {
		return 0, fmt.Errorf("vrrp: advertisement from %v, which is not a unicast peer: %w", src, ErrSource)
	}
	return form, nil
}

// countDrop counts a dropped message by the reason err wraps.
func (m *Machine) countDrop(err error) {
	c := &m.counters
	switch {
	case errors.Is(err, ErrTTL):
		c.DroppedTTL++
	case errors.Is(err, ErrVersion):
		c.DroppedVersion++
	case errors.Is(err, ErrChecksum):
		c.DroppedChecksum++
	case errors.Is(err, ErrType):
		c.DroppedType++
	case errors.Is(err, ErrSource):
		c.DroppedSource++
	case errors.Is(err, ErrVRID):
		c.OtherVRID++
	default:
		c.DroppedMalformed++
	}
}

// track records an accepted advertisement a from src in the peer table and
// the mismatch counters, and returns a notice for the user when there is
// something new to say.
func (m *Machine) track(now time.Time, src netip.Addr, a *Advertisement, form ChecksumForm) string {
	var notes []string
	if a.MaxAdvertInterval != m.cfg.interval() {
		m.counters.IntervalMismatch++
	}
	addrsDiffer := !slices.Equal(a.Addrs, m.cfg.Addrs)
	if addrsDiffer {
		m.counters.AddrMismatch++
	}
	if a.Priority == PriorityOwner && m.cfg.Priority == PriorityOwner {
		m.counters.OwnerConflicts++
	}
	i := slices.IndexFunc(m.peers, func(p PeerStatus) bool { return p.Addr == src })
	if i < 0 {
		if len(m.peers) >= m.cfg.MaxPeers {
			m.counters.UntrackedPeers++
			return ""
		}
		m.peers = append(m.peers, PeerStatus{Addr: src})
		i = len(m.peers) - 1
		notes = append(notes, fmt.Sprintf("first advertisement from %v: priority %d, interval %v, %v checksum", src, a.Priority, a.Interval(), form))
		if a.MaxAdvertInterval != m.cfg.interval() {
			notes = append(notes, fmt.Sprintf("%v advertises every %v, we are configured for %v", src, a.Interval(), m.cfg.AdvertInterval))
		}
		if addrsDiffer {
			notes = append(notes, fmt.Sprintf("%v advertises the addresses %v, ours are %v", src, a.Addrs, m.cfg.Addrs))
		}
		if a.Priority == PriorityOwner && m.cfg.Priority == PriorityOwner {
			notes = append(notes, fmt.Sprintf("%v is also configured as the address owner (priority 255): only one router may be", src))
		}
	}
	p := &m.peers[i]
	if p.Checksum != 0 && p.Checksum != form {
		notes = append(notes, fmt.Sprintf("%v changed its checksum form from %v to %v", src, p.Checksum, form))
	}
	if p.Interval != 0 && p.Interval != a.Interval() {
		notes = append(notes, fmt.Sprintf("%v changed its interval from %v to %v", src, p.Interval, a.Interval()))
	}
	p.Priority, p.Interval, p.Checksum, p.Last = a.Priority, a.Interval(), form, now
	if form == ChecksumMessageOnly {
		p.MessageOnly++
	} else {
		p.PseudoHeader++
	}
	switch len(notes) {
	case 0:
		return ""
	case 1:
		return notes[0]
	}
	s := notes[0]
	for _, n := range notes[1:] {
		s += "; " + n
	}
	return s
}

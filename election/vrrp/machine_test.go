package vrrp

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/hakit/hakit"
	"github.com/stretchr/testify/require"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// ms is a number of milliseconds.
func ms(n float64) time.Duration { return time.Duration(n * float64(time.Millisecond)) }

func cfg4(prio uint8) *Config {
	return &Config{VRID: 51, Priority: prio, Addrs: []netip.Addr{vip4}, Primary: src4, AdvertInterval: time.Second}
}

func newMachine(t *testing.T, c *Config) *Machine {
	t.Helper()
	m, err := New(c)
	require.NoError(t, err)
	return m
}

// pkt describes a received advertisement; zero fields take the defaults of
// build: to the IPv4 group, TTL 255, interval 1s, VRID 51, pseudo-header
// checksum, the address vip4.
type pkt struct {
	src      netip.Addr
	dst      netip.Addr
	ttl      uint8
	prio     uint8
	interval uint16 // centiseconds
	vrid     uint8
	form     ChecksumForm
	addrs    []netip.Addr
	adv      func(*Advertisement) // changes the advertisement before sealing
	mod      func(b []byte)       // changes the encoded message after sealing
}

func (p pkt) build(t *testing.T) Packet {
	t.Helper()
	if !p.dst.IsValid() {
		p.dst = GroupIPv4
	}
	if p.ttl == 0 {
		p.ttl = 255
	}
	if p.interval == 0 {
		p.interval = 100
	}
	if p.vrid == 0 {
		p.vrid = 51
	}
	if p.form == 0 {
		p.form = ChecksumPseudoHeader
	}
	if p.addrs == nil {
		p.addrs = []netip.Addr{vip4}
	}
	a := Advertisement{Version: 3, Type: 1, VRID: p.vrid, Priority: p.prio, MaxAdvertInterval: p.interval, Addrs: p.addrs}
	if p.adv != nil {
		p.adv(&a)
	}
	require.NoError(t, a.Seal(p.form, p.src, p.dst))
	b, err := a.MarshalBinary()
	require.NoError(t, err)
	if p.mod != nil {
		p.mod(b)
	}
	return Packet{Src: p.src, Dst: p.dst, TTL: p.ttl, Data: b}
}

func TestTimers(t *testing.T) {
	// RFC 9568 section 6.1: Skew_Time = ((256 - Priority) *
	// Active_Adver_Interval) / 256; Active_Down_Interval = (3 *
	// Active_Adver_Interval) + Skew_Time.
	require.Equal(t, ms(609.375), SkewTime(100, time.Second))
	require.Equal(t, ms(3609.375), MasterDownInterval(100, time.Second))
	require.Equal(t, ms(0.390625), SkewTime(255, 100*time.Millisecond))
	require.Equal(t, ms(300.390625), MasterDownInterval(255, 100*time.Millisecond))
	require.Equal(t, ms(7.8125), SkewTime(56, 10*time.Millisecond))
}

func TestStartup(t *testing.T) {
	// 6.4.1: "If the Priority = 255 ... Send an ADVERTISEMENT ... Set the
	// Adver_Timer to Advertisement_Interval ... Transition to the {Active}
	// state; else ... Set Active_Adver_Interval to Advertisement_Interval,
	// Set the Active_Down_Timer to Active_Down_Interval, Transition to the
	// {Backup} state".
	t.Run("backup", func(t *testing.T) {
		m := newMachine(t, cfg4(100))
		require.Equal(t, Initialize, m.State())
		o := m.Start(t0)
		require.True(t, o.Changed)
		require.Equal(t, Backup, o.State)
		require.Equal(t, Initialize, o.From)
		require.False(t, o.Send)
		require.Equal(t, t0.Add(ms(3609.375)), o.Next)
		require.Equal(t, time.Second, m.Status().MasterInterval)
		// A second Start changes nothing.
		o = m.Start(t0.Add(time.Second))
		require.False(t, o.Changed)
		require.Equal(t, t0.Add(ms(3609.375)), o.Next)
	})
	t.Run("owner", func(t *testing.T) {
		m := newMachine(t, cfg4(255))
		o := m.Start(t0)
		require.True(t, o.Changed)
		require.Equal(t, Master, o.State)
		require.True(t, o.Send)
		require.Equal(t, uint8(255), o.Advert.Priority)
		require.Equal(t, uint16(100), o.Advert.MaxAdvertInterval)
		require.Equal(t, []netip.Addr{vip4}, o.Advert.Addrs)
		require.Equal(t, t0.Add(time.Second), o.Next)
		require.Contains(t, o.Reason, "address owner")
		require.True(t, m.Status().Accept, "the owner accepts packets to its addresses")
	})
}

func TestBackup(t *testing.T) {
	peer := netip.MustParseAddr("198.18.0.9")
	for _, tt := range []struct {
		name      string
		cfg       *Config
		rfc       string
		advert    pkt
		wantNext  time.Duration // after the advertisement at +1s
		wantIntvl time.Duration
	}{
		{
			name:      "higher priority resets the timer",
			cfg:       cfg4(100),
			rfc:       "If Preempt_Mode is False, or if the Priority in the ADVERTISEMENT is greater than or equal to the local Priority, then: Set the Active_Adver_Interval to the Max Advertise Interval ... Set the Active_Down_Timer to Active_Down_Interval",
			advert:    pkt{src: peer, prio: 200},
			wantNext:  ms(3609.375),
			wantIntvl: time.Second,
		},
		{
			name:      "equal priority resets the timer",
			cfg:       cfg4(100),
			rfc:       "greater than or equal to the local Priority",
			advert:    pkt{src: peer, prio: 100},
			wantNext:  ms(3609.375),
			wantIntvl: time.Second,
		},
		{
			name:      "the Master's interval is adopted",
			cfg:       cfg4(100),
			rfc:       "Set the Active_Adver_Interval to the Max Advertise Interval contained in the ADVERTISEMENT; Recompute the Skew_Time; Recompute the Active_Down_Interval",
			advert:    pkt{src: peer, prio: 200, interval: 10},
			wantNext:  3*ms(100) + ms(100)*156/256,
			wantIntvl: ms(100),
		},
		{
			name:      "priority 0: Skew_Time",
			cfg:       cfg4(100),
			rfc:       "If the Priority in the ADVERTISEMENT is 0, then: Set the Active_Down_Timer to Skew_Time",
			advert:    pkt{src: peer, prio: 0},
			wantNext:  ms(609.375),
			wantIntvl: time.Second,
		},
		{
			name:      "preempt: a lower priority is discarded",
			cfg:       cfg4(100),
			rfc:       "else // preempt was true and priority was less than the local priority: Discard the ADVERTISEMENT",
			advert:    pkt{src: peer, prio: 50, interval: 10},
			wantNext:  ms(3609.375) - time.Second, // the timer set at start runs on
			wantIntvl: time.Second,
		},
		{
			name: "nopreempt: a lower priority resets the timer",
			cfg: func() *Config {
				c := cfg4(100)
				c.NoPreempt = true
				return c
			}(),
			rfc:       "If Preempt_Mode is False ... Set the Active_Down_Timer to Active_Down_Interval",
			advert:    pkt{src: peer, prio: 50},
			wantNext:  ms(3609.375),
			wantIntvl: time.Second,
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m := newMachine(t, tt.cfg)
			m.Start(t0)
			now := t0.Add(time.Second)
			o, err := m.Receive(now, tt.advert.build(t))
			require.NoError(t, err, tt.rfc)
			require.False(t, o.Changed, tt.rfc)
			require.False(t, o.Send, tt.rfc)
			require.Equal(t, Backup, o.State)
			require.Equal(t, now.Add(tt.wantNext), o.Next, tt.rfc)
			require.Equal(t, tt.wantIntvl, m.Status().MasterInterval, tt.rfc)

			// Before the timer nothing happens; at it, the Backup takes over.
			o = m.Tick(o.Next.Add(-1))
			require.False(t, o.Changed)
			at := now.Add(tt.wantNext)
			o = m.Tick(at)
			// "If the Active_Down_Timer fires, then: Send an ADVERTISEMENT
			// ... Set the Adver_Timer to Advertisement_Interval, Transition
			// to the {Active} state"
			require.True(t, o.Changed)
			require.Equal(t, Master, o.State)
			require.Equal(t, Backup, o.From)
			require.True(t, o.Send)
			require.Equal(t, uint8(tt.cfg.Priority), o.Advert.Priority)
			require.Equal(t, at.Add(time.Second), o.Next)
		})
	}
}

func TestBackupReasons(t *testing.T) {
	peer := netip.MustParseAddr("198.18.0.9")
	m := newMachine(t, cfg4(100))
	o := m.Start(t0)
	o = m.Tick(o.Next)
	require.Equal(t, "no advertisement for Master_Down_Interval 3.609375s after start", o.Reason)

	m = newMachine(t, cfg4(100))
	m.Start(t0)
	o, _ = m.Receive(t0, pkt{src: peer, prio: 200}.build(t))
	require.Equal(t, peer, m.Status().Master)
	o = m.Tick(o.Next)
	require.Equal(t, "no advertisement from Master 198.18.0.9 (priority 200) for Master_Down_Interval 3.609375s", o.Reason)

	m = newMachine(t, cfg4(100))
	m.Start(t0)
	o, _ = m.Receive(t0, pkt{src: peer, prio: 0}.build(t))
	o = m.Tick(o.Next)
	require.Equal(t, "Master 198.18.0.9 stopped (priority 0): took over after Skew_Time 609.375ms", o.Reason)
}

// master returns a Machine that became Master at t0+MasterDownInterval.
func master(t *testing.T, c *Config) (*Machine, time.Time) {
	t.Helper()
	m := newMachine(t, c)
	o := m.Start(t0)
	if o.State == Master {
		return m, t0
	}
	o = m.Tick(o.Next)
	require.Equal(t, Master, o.State)
	return m, o.Next.Add(-c.AdvertInterval)
}

func TestMaster(t *testing.T) {
	high := netip.MustParseAddr("198.18.0.9") // above src4 (198.18.0.3)
	low := netip.MustParseAddr("198.18.0.1")
	for _, tt := range []struct {
		name     string
		rfc      string
		advert   pkt
		want     State
		wantSend bool
		wantNext time.Duration // from the advertisement, at +0.5s
	}{
		{
			name:     "priority 0",
			rfc:      "If the Priority in the ADVERTISEMENT is 0, then: Send an ADVERTISEMENT; Reset the Adver_Timer to Advertisement_Interval",
			advert:   pkt{src: high, prio: 0},
			want:     Master,
			wantSend: true,
			wantNext: time.Second,
		},
		{
			name:     "higher priority",
			rfc:      "If the Priority in the ADVERTISEMENT is greater than the local Priority ... Cancel Adver_Timer; Set the Active_Adver_Interval to the Max Advertise Interval ...; Set the Active_Down_Timer to Active_Down_Interval; Transition to the {Backup} state",
			advert:   pkt{src: low, prio: 101, interval: 50},
			want:     Backup,
			wantNext: 3*ms(500) + ms(500)*156/256,
		},
		{
			name:     "equal priority, higher address",
			rfc:      "or the Priority in the ADVERTISEMENT is equal to the local Priority and the primary IPvX address of the sender is greater than the local primary IPvX address",
			advert:   pkt{src: high, prio: 100},
			want:     Backup,
			wantNext: ms(3609.375),
		},
		{
			name:     "equal priority, lower address",
			rfc:      "else: Discard the ADVERTISEMENT; Send an ADVERTISEMENT immediately to assert the {Active} state",
			advert:   pkt{src: low, prio: 100},
			want:     Master,
			wantSend: true,
			wantNext: time.Second / 2, // the Adver_Timer is not reset
		},
		{
			name:     "lower priority",
			rfc:      "else // new Active Router logic: Discard the ADVERTISEMENT; Send an ADVERTISEMENT immediately",
			advert:   pkt{src: high, prio: 99},
			want:     Master,
			wantSend: true,
			wantNext: time.Second / 2,
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m, became := master(t, cfg4(100))
			now := became.Add(time.Second / 2)
			o, err := m.Receive(now, tt.advert.build(t))
			require.NoError(t, err)
			require.Equal(t, tt.want, o.State, tt.rfc)
			require.Equal(t, tt.want != Master, o.Changed, tt.rfc)
			require.Equal(t, tt.wantSend, o.Send, tt.rfc)
			if o.Send {
				require.Equal(t, uint8(100), o.Advert.Priority)
			}
			require.Equal(t, now.Add(tt.wantNext), o.Next, tt.rfc)
			if tt.want == Backup {
				require.Equal(t, tt.advert.src, m.Status().Master)
				require.Contains(t, o.Reason, tt.advert.src.String())
			}
		})
	}
}

func TestMasterAdverTimer(t *testing.T) {
	// "If the Adver_Timer fires, then: Send an ADVERTISEMENT; Reset the
	// Adver_Timer to Advertisement_Interval"
	m, became := master(t, cfg4(100))
	next := became.Add(time.Second)
	for i := 0; i < 3; i++ {
		o := m.Tick(next.Add(-time.Nanosecond))
		require.False(t, o.Send)
		o = m.Tick(next)
		require.True(t, o.Send)
		require.False(t, o.Changed)
		next = next.Add(time.Second)
		require.Equal(t, next, o.Next)
	}
}

func TestShutdown(t *testing.T) {
	// Master: "If a Shutdown event is received, then: Cancel the
	// Adver_Timer; Send an ADVERTISEMENT with Priority = 0; Transition to
	// the {Initialize} state"
	m, became := master(t, cfg4(100))
	o := m.Shutdown(became.Add(time.Second / 3))
	require.True(t, o.Changed)
	require.Equal(t, Initialize, o.State)
	require.Equal(t, Master, o.From)
	require.True(t, o.Send)
	require.Equal(t, uint8(0), o.Advert.Priority)
	require.True(t, o.Next.IsZero())
	require.Equal(t, uint64(1), m.Counters().PriorityZeroSent)
	o = m.Tick(became.Add(time.Hour))
	require.False(t, o.Send, "no timer after shutdown")
	o, err := m.Receive(became, pkt{src: peer4, prio: 200}.build(t))
	require.NoError(t, err)
	require.Equal(t, Initialize, o.State)
	require.Equal(t, uint64(1), m.Counters().Ignored)
	// Start again.
	o = m.Start(became.Add(time.Hour))
	require.Equal(t, Backup, o.State)

	// Backup: "Cancel the Active_Down_Timer; Transition to the
	// {Initialize} state"
	o = m.Shutdown(became.Add(time.Hour))
	require.True(t, o.Changed)
	require.False(t, o.Send)
	require.Equal(t, Initialize, o.State)
	o = m.Shutdown(became.Add(time.Hour))
	require.False(t, o.Changed)
}

func TestSetPriority(t *testing.T) {
	m, became := master(t, cfg4(100))
	o, err := m.SetPriority(became, 90)
	require.NoError(t, err)
	require.True(t, o.Send, "a Master advertises a new priority at once")
	require.Equal(t, uint8(90), o.Advert.Priority)
	_, err = m.SetPriority(became, 255)
	require.ErrorIs(t, err, hakit.ErrConfig)
	_, err = m.SetPriority(became, 0)
	require.ErrorIs(t, err, hakit.ErrConfig)
	// A backup of priority 95 now preempts (the Master stays until it hears it).
	o, err = m.Receive(became, pkt{src: peer4, prio: 95}.build(t))
	require.NoError(t, err)
	require.Equal(t, Backup, o.State)

	owner := newMachine(t, cfg4(255))
	_, err = owner.SetPriority(t0, 100)
	require.ErrorIs(t, err, hakit.ErrConfig)
}

func TestReceiveDrops(t *testing.T) {
	peer := netip.MustParseAddr("198.18.0.9")
	unicastCfg := cfg4(100)
	unicastCfg.Peers = []netip.Addr{peer}
	lowTTL := cfg4(100)
	lowTTL.MinUnicastTTL = 64
	for _, tt := range []struct {
		name    string
		cfg     *Config
		p       pkt
		raw     *Packet
		want    error
		counter func(Counters) uint64
	}{
		{"multicast TTL 254", nil, pkt{src: peer, prio: 200, ttl: 254}, nil, ErrTTL, func(c Counters) uint64 { return c.DroppedTTL }},
		{"multicast TTL 64 even with MinUnicastTTL", lowTTL, pkt{src: peer, prio: 200, ttl: 64}, nil, ErrTTL, func(c Counters) uint64 { return c.DroppedTTL }},
		{"unicast TTL 64", nil, pkt{src: peer, dst: src4, prio: 200, ttl: 64}, nil, ErrTTL, func(c Counters) uint64 { return c.DroppedTTL }},
		{"version 2", nil, pkt{src: peer, prio: 200, mod: func(b []byte) { b[0] = 0x21 }}, nil, ErrVersion, func(c Counters) uint64 { return c.DroppedVersion }},
		{"bad checksum", nil, pkt{src: peer, prio: 200, mod: func(b []byte) { b[7] ^= 1 }}, nil, ErrChecksum, func(c Counters) uint64 { return c.DroppedChecksum }},
		{"checksum for another destination", nil, pkt{src: peer, prio: 200, dst: GroupIPv4, mod: nil}, &Packet{Src: peer, Dst: src4, TTL: 255}, ErrChecksum, func(c Counters) uint64 { return c.DroppedChecksum }},
		{"other VRID", nil, pkt{src: peer, prio: 200, vrid: 52}, nil, ErrVRID, func(c Counters) uint64 { return c.OtherVRID }},
		{"unknown type", nil, pkt{src: peer, prio: 200, adv: func(a *Advertisement) { a.Type = 2 }}, nil, ErrType, func(c Counters) uint64 { return c.DroppedType }},
		{"interval 0", nil, pkt{src: peer, prio: 200, adv: func(a *Advertisement) { a.MaxAdvertInterval = 0 }}, nil, ErrMalformed, func(c Counters) uint64 { return c.DroppedMalformed }},
		{"our own address", nil, pkt{src: src4, prio: 200}, nil, ErrSource, func(c Counters) uint64 { return c.DroppedSource }},
		{"not a unicast peer", unicastCfg, pkt{src: netip.MustParseAddr("198.18.0.8"), prio: 200}, nil, ErrSource, func(c Counters) uint64 { return c.DroppedSource }},
		{"IPv6 addresses in an IPv4 instance", nil, pkt{src: src6, dst: GroupIPv6, prio: 200, addrs: []netip.Addr{vipLL}}, nil, ErrMalformed, func(c Counters) uint64 { return c.DroppedMalformed }},
		{"truncated", nil, pkt{src: peer, prio: 200, mod: nil}, &Packet{Src: peer, Dst: GroupIPv4, TTL: 255, Data: []byte{0x31, 51}}, nil, func(c Counters) uint64 { return c.DroppedMalformed }},
		{"no destination", nil, pkt{src: peer, prio: 200}, &Packet{Src: peer, TTL: 255}, ErrMalformed, func(c Counters) uint64 { return c.DroppedMalformed }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.cfg
			if c == nil {
				c = cfg4(100)
			}
			m := newMachine(t, c)
			start := m.Start(t0)
			p := tt.p.build(t)
			if tt.raw != nil {
				d := tt.raw.Data
				if d == nil {
					d = p.Data
				}
				p = Packet{Src: tt.raw.Src, Dst: tt.raw.Dst, TTL: tt.raw.TTL, Data: d}
			}
			o, err := m.Receive(t0.Add(time.Second), p)
			require.Error(t, err)
			if tt.want != nil {
				require.ErrorIs(t, err, tt.want)
			}
			require.True(t, strings.HasPrefix(err.Error(), "vrrp: "), err.Error())
			require.False(t, o.Changed)
			require.False(t, o.Send)
			require.Equal(t, start.Next, o.Next, "a dropped advertisement does not reset the timer")
			require.Equal(t, uint64(1), tt.counter(m.Counters()))
			require.Zero(t, m.Counters().Received)
			require.Empty(t, m.Status().Peers)
		})
	}
}

func TestUnicastTTL(t *testing.T) {
	c := cfg4(100)
	c.Peers = []netip.Addr{peer4}
	c.MinUnicastTTL = 64
	m := newMachine(t, c)
	m.Start(t0)
	_, err := m.Receive(t0, pkt{src: peer4, dst: src4, prio: 200, ttl: 64}.build(t))
	require.NoError(t, err)
	_, err = m.Receive(t0, pkt{src: peer4, dst: src4, prio: 200, ttl: 63}.build(t))
	require.ErrorIs(t, err, ErrTTL)
}

func TestChecksumFormsReported(t *testing.T) {
	a := netip.MustParseAddr("198.18.0.7")
	b := netip.MustParseAddr("198.18.0.8")
	m := newMachine(t, cfg4(100))
	m.Start(t0)
	o, err := m.Receive(t0, pkt{src: a, prio: 200, form: ChecksumPseudoHeader}.build(t))
	require.NoError(t, err)
	require.Equal(t, "first advertisement from 198.18.0.7: priority 200, interval 1s, pseudo-header checksum", o.Notice)
	o, err = m.Receive(t0, pkt{src: a, prio: 200}.build(t))
	require.NoError(t, err)
	require.Empty(t, o.Notice, "nothing new")
	o, err = m.Receive(t0, pkt{src: b, prio: 150, form: ChecksumMessageOnly, interval: 50,
		addrs: []netip.Addr{vip4b}}.build(t))
	require.NoError(t, err)
	require.Equal(t, "first advertisement from 198.18.0.8: priority 150, interval 500ms, message-only checksum; "+
		"198.18.0.8 advertises every 500ms, we are configured for 1s; "+
		"198.18.0.8 advertises the addresses [198.18.0.101], ours are [198.18.0.100]", o.Notice)
	o, err = m.Receive(t0.Add(time.Second), pkt{src: a, prio: 200, form: ChecksumMessageOnly}.build(t))
	require.NoError(t, err)
	require.Equal(t, "198.18.0.7 changed its checksum form from pseudo-header to message-only", o.Notice)

	s := m.Status()
	require.Equal(t, []PeerStatus{
		{Addr: a, Priority: 200, Interval: time.Second, Checksum: ChecksumMessageOnly, PseudoHeader: 2, MessageOnly: 1, Last: t0.Add(time.Second)},
		{Addr: b, Priority: 150, Interval: ms(500), Checksum: ChecksumMessageOnly, MessageOnly: 1, Last: t0},
	}, s.Peers)
	require.Equal(t, uint64(4), s.Counters.Received)
	require.Equal(t, uint64(2), s.Counters.ReceivedPseudoHeader)
	require.Equal(t, uint64(2), s.Counters.ReceivedMessageOnly)
	require.Equal(t, uint64(1), s.Counters.IntervalMismatch)
	require.Equal(t, uint64(1), s.Counters.AddrMismatch)
}

func TestPeerCap(t *testing.T) {
	c := cfg4(100)
	c.MaxPeers = 2
	m := newMachine(t, c)
	m.Start(t0)
	for i := 10; i < 15; i++ {
		_, err := m.Receive(t0, pkt{src: netip.AddrFrom4([4]byte{198, 18, 0, byte(i)}), prio: 200}.build(t))
		require.NoError(t, err, "an advertisement beyond the cap is still processed")
	}
	require.Len(t, m.Status().Peers, 2)
	require.Equal(t, uint64(3), m.Counters().UntrackedPeers)
	require.Equal(t, uint64(5), m.Counters().Received)
}

func TestOwnerConflict(t *testing.T) {
	m := newMachine(t, cfg4(255))
	m.Start(t0)
	high := netip.MustParseAddr("198.18.0.9")
	o, err := m.Receive(t0, pkt{src: high, prio: 255}.build(t))
	require.NoError(t, err)
	require.Contains(t, o.Notice, "also configured as the address owner")
	require.Equal(t, uint64(1), m.Counters().OwnerConflicts)
	require.Equal(t, Backup, o.State, "RFC 9568: the tie goes to the higher address")
}

func TestIPv6(t *testing.T) {
	c := &Config{VRID: 51, Priority: 100, Addrs: []netip.Addr{vipLL, vip6}, Primary: src6, AdvertInterval: time.Second}
	m := newMachine(t, c)
	m.Start(t0)
	peer := netip.MustParseAddr("fe80::9")
	o, err := m.Receive(t0, pkt{src: peer, dst: GroupIPv6, prio: 200, addrs: c.Addrs}.build(t))
	require.NoError(t, err)
	require.Contains(t, o.Notice, "pseudo-header checksum")
	_, err = m.Receive(t0, pkt{src: peer.WithZone("eth0"), dst: GroupIPv6, prio: 200, addrs: c.Addrs}.build(t))
	require.NoError(t, err, "a zone on the source is ignored")
	_, err = m.Receive(t0, pkt{src: peer, dst: GroupIPv6, prio: 200, ttl: 1, addrs: c.Addrs}.build(t))
	require.ErrorIs(t, err, ErrTTL)
}

func TestConfigValidate(t *testing.T) {
	ok := func() *Config { return cfg4(100) }
	require.NoError(t, ok().Validate())
	for name, mod := range map[string]func(*Config){
		"vrid 0":             func(c *Config) { c.VRID = 0 },
		"no address":         func(c *Config) { c.Addrs = nil },
		"multicast address":  func(c *Config) { c.Addrs = []netip.Addr{GroupIPv4} },
		"mixed families":     func(c *Config) { c.Addrs = []netip.Addr{vip4, vip6} },
		"duplicate":          func(c *Config) { c.Addrs = []netip.Addr{vip4, vip4} },
		"ipv6 global first":  func(c *Config) { c.Addrs = []netip.Addr{vip6}; c.Primary = src6 },
		"no primary":         func(c *Config) { c.Primary = netip.Addr{} },
		"primary of v6":      func(c *Config) { c.Primary = src6 },
		"v6 global primary":  func(c *Config) { c.Addrs = []netip.Addr{vipLL}; c.Primary = vip6 },
		"interval 5ms":       func(c *Config) { c.AdvertInterval = 5 * time.Millisecond },
		"interval 15ms":      func(c *Config) { c.AdvertInterval = 15 * time.Millisecond },
		"interval 41s":       func(c *Config) { c.AdvertInterval = 41 * time.Second },
		"checksum form":      func(c *Config) { c.Checksum = 7 },
		"negative max peers": func(c *Config) { c.MaxPeers = -1 },
		"peer is primary":    func(c *Config) { c.Peers = []netip.Addr{src4} },
		"peer of v6":         func(c *Config) { c.Peers = []netip.Addr{src6} },
		"peer twice":         func(c *Config) { c.Peers = []netip.Addr{peer4, peer4} },
		"too many peers": func(c *Config) {
			c.MaxPeers = 1
			c.Peers = []netip.Addr{peer4, netip.MustParseAddr("198.18.0.7")}
		},
	} {
		c := ok()
		mod(c)
		require.ErrorIs(t, c.Validate(), hakit.ErrConfig, name)
		_, err := New(c)
		require.ErrorIs(t, err, hakit.ErrConfig, name)
	}
	var nilCfg *Config
	require.ErrorIs(t, nilCfg.Validate(), hakit.ErrConfig)

	// Allowed: a global first IPv6 address with GlobalFirst, a global IPv6
	// primary with unicast peers, zones (dropped).
	g := &Config{VRID: 1, Addrs: []netip.Addr{vip6}, Primary: src6, GlobalFirst: true}
	require.NoError(t, g.Validate())
	u := &Config{VRID: 1, Addrs: []netip.Addr{vipLL}, Primary: vip6, Peers: []netip.Addr{netip.MustParseAddr("2001:db8::9")}}
	require.NoError(t, u.Validate())
	z := &Config{VRID: 1, Addrs: []netip.Addr{vipLL.WithZone("eth0")}, Primary: src6.WithZone("eth0")}
	require.NoError(t, z.Validate())
	m := newMachine(t, z)
	require.Equal(t, []netip.Addr{vipLL}, m.Config().Addrs)
	require.Equal(t, src6, m.Config().Primary)
	require.Equal(t, uint8(DefaultPriority), m.Config().Priority)
	require.Equal(t, time.Second, m.Config().AdvertInterval)
	require.Equal(t, ChecksumPseudoHeader, m.Config().Checksum)
}

func BenchmarkMachineReceive(b *testing.B) {
	m, err := New(cfg4(100))
	require.NoError(b, err)
	m.Start(t0)
	a := Advertisement{Version: 3, Type: 1, VRID: 51, Priority: 200, MaxAdvertInterval: 100, Addrs: []netip.Addr{vip4}}
	require.NoError(b, a.Seal(ChecksumPseudoHeader, peer4, GroupIPv4))
	msg, _ := a.MarshalBinary()
	p := Packet{Src: peer4, Dst: GroupIPv4, TTL: 255, Data: msg}
	_, err = m.Receive(t0, p) // the first one makes a peer entry
	require.NoError(b, err)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Receive(t0, p); err != nil {
			b.Fatal(err)
		}
	}
}

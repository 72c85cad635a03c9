package conntrack

import (
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/mdlayher/netlink"
	"github.com/stretchr/testify/require"
	ct "github.com/ti-mo/conntrack"
	"github.com/ti-mo/netfilter"

	"github.com/hakit/hakit/statesync"
)

var now = time.Unix(1_800_000_000, 0)

func ap(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

func flow(proto uint8, src, dst, rsrc, rdst string) ct.Flow {
	var f ct.Flow
	s, d, rs, rd := ap(src), ap(dst), ap(rsrc), ap(rdst)
	f.TupleOrig = tuple(proto, 0, s, d)
	f.TupleReply = tuple(proto, 0, rs, rd)
	return f
}

func TestFlowToSession(t *testing.T) {
	tcp := flow(6, "198.18.1.2:40000", "198.18.2.2:80", "198.18.2.2:80", "198.18.1.2:40000")
	tcp.Zone = 7
	tcp.Timeout = 300
	tcp.Mark = 0x42
	tcp.Status = ct.StatusConfirmed | ct.StatusAssured | ct.StatusSeenReply
	tcp.ProtoInfo.TCP = &ct.ProtoInfoTCP{State: statesync.TCPStateEstablished, OriginalWindowScale: 7}
	tcp.CountersOrig = ct.Counter{Packets: 10, Bytes: 1000}
	tcp.CountersReply = ct.Counter{Packets: 5, Bytes: 300, Direction: true}

	snat := flow(6, "198.18.1.2:40000", "198.18.2.2:80", "198.18.2.2:80", "198.18.2.1:61000")
	snat.Timeout = 10
	snat.Status = ct.StatusSrcNAT | ct.StatusSrcNATDone

	udp6 := flow(17, "[2001:db8::1]:53000", "[2001:db8::2]:53", "[2001:db8::2]:53", "[2001:db8::1]:53000")
	udp6.Timeout = 30

	// ICMP echo request id 0x1234 (type 8 code 0), its reply type 0.
	icmp := flow(1, "198.18.1.2:4660", "198.18.2.2:2048", "198.18.2.2:4660", "198.18.1.2:0")
	icmp.Timeout = 30
	icmp6 := flow(58, "[2001:db8::1]:7", "[2001:db8::2]:32768", "[2001:db8::2]:7", "[2001:db8::1]:33024")
	icmp6.Timeout = 30

	gre := flow(47, "198.18.1.2:0", "198.18.2.2:0", "198.18.2.2:0", "198.18.1.2:0")
	tmpl := tcp
	tmpl.Status |= ct.StatusTemplate
	mixed := tcp
	mixed.TupleOrig.IP.DestinationAddress = netip.MustParseAddr("2001:db8::2")
	var empty ct.Flow
	empty.TupleOrig.Proto.Protocol = 6

	tests := []struct {
		name string
		in   ct.Flow
		want statesync.Session
		err  error
	}{
		{name: "tcp", in: tcp, want: statesync.Session{
			Key:   statesync.Key{Zone: 7, Proto: 6, Src: ap("198.18.1.2:40000"), Dst: ap("198.18.2.2:80")},
			State: statesync.TCPStateEstablished, Status: uint32(tcp.Status),
			Expires: uint32(now.Unix()) + 300, Mark: 0x42, Packets: 15, Bytes: 1300,
		}},
		{name: "snat", in: snat, want: statesync.Session{
			Key:      statesync.Key{Proto: 6, Src: ap("198.18.1.2:40000"), Dst: ap("198.18.2.2:80")},
			ReplySrc: ap("198.18.2.2:80"), ReplyDst: ap("198.18.2.1:61000"),
			Status: uint32(snat.Status), Expires: uint32(now.Unix()) + 10,
		}},
		{name: "udp6", in: udp6, want: statesync.Session{
			Key:     statesync.Key{Proto: 17, Src: ap("[2001:db8::1]:53000"), Dst: ap("[2001:db8::2]:53")},
			Expires: uint32(now.Unix()) + 30,
		}},
		{name: "icmp echo", in: icmp, want: statesync.Session{
			Key:     statesync.Key{Proto: 1, Src: ap("198.18.1.2:4660"), Dst: ap("198.18.2.2:2048")},
			Expires: uint32(now.Unix()) + 30,
		}},
		{name: "icmpv6 echo", in: icmp6, want: statesync.Session{
			Key:     statesync.Key{Proto: 58, Src: ap("[2001:db8::1]:7"), Dst: ap("[2001:db8::2]:32768")},
			Expires: uint32(now.Unix()) + 30,
		}},
		{name: "gre", in: gre, err: ErrUnsupportedFlow},
		{name: "template", in: tmpl, err: ErrUnsupportedFlow},
		{name: "mixed families", in: mixed, err: ErrUnsupportedFlow},
		{name: "no addresses", in: empty, err: ErrUnsupportedFlow},
		{name: "zero", in: ct.Flow{}, err: ErrUnsupportedFlow},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := FlowToSession(tt.in, now)
			if tt.err != nil {
				require.ErrorIs(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestSessionToFlowRoundTrip(t *testing.T) {
	sessions := []statesync.Session{
		{Key: statesync.Key{Zone: 3, Proto: 6, Src: ap("198.18.1.2:40000"), Dst: ap("198.18.2.2:80")},
			State: statesync.TCPStateEstablished, Status: uint32(ct.StatusAssured | ct.StatusSeenReply),
			Expires: uint32(now.Unix()) + 100, Mark: 9},
		{Key: statesync.Key{Proto: 6, Src: ap("198.18.1.2:40000"), Dst: ap("198.18.2.2:80")},
			ReplySrc: ap("198.18.2.2:80"), ReplyDst: ap("198.18.2.1:61000"), State: statesync.TCPStateSynSent,
			Expires: uint32(now.Unix()) + 120},
		{Key: statesync.Key{Proto: 17, Src: ap("[2001:db8::1]:5000"), Dst: ap("[2001:db8::2]:53")},
			Expires: uint32(now.Unix()) + 1},
		{Key: statesync.Key{Proto: 132, Src: ap("198.18.1.2:5000"), Dst: ap("198.18.2.2:3868")},
			State: 3, Expires: uint32(now.Unix()) + 60},
		{Key: statesync.Key{Proto: 1, Src: ap("198.18.1.2:4660"), Dst: ap("198.18.2.2:2048")},
			Expires: uint32(now.Unix()) + 30},
		{Key: statesync.Key{Proto: 58, Src: ap("[2001:db8::1]:7"), Dst: ap("[2001:db8::2]:32768")},
			Expires: uint32(now.Unix()) + 30},
	}
	for _, s := range sessions {
		t.Run(s.Key.Src.String(), func(t *testing.T) {
			f, err := SessionToFlow(s, now, time.Hour)
			require.NoError(t, err)
			require.NotZero(t, f.Timeout)
			if s.Key.Proto == 6 {
				require.NotNil(t, f.ProtoInfo.TCP)
				require.Equal(t, uint16(0x0808), f.ProtoInfo.TCP.OriginalFlags, "be liberal")
			}
			got, err := FlowToSession(f, now)
			require.NoError(t, err)
			s.Status |= uint32(ct.StatusConfirmed) // as every kernel entry
			require.Equal(t, s, got)
		})
	}
}

func TestSessionToFlowRefuses(t *testing.T) {
	base := statesync.Session{Key: statesync.Key{Proto: 6, Src: ap("198.18.1.2:1"), Dst: ap("198.18.2.2:2")}}
	tests := []struct {
		name string
		mod  func(*statesync.Session)
		err  error
	}{
		{"expired", func(s *statesync.Session) { s.Expires = uint32(now.Unix()) - 1 }, ErrExpired},
		{"expires now", func(s *statesync.Session) { s.Expires = uint32(now.Unix()) }, ErrExpired},
		{"gre", func(s *statesync.Session) { s.Key.Proto = 47 }, ErrUnsupportedFlow},
		{"zero key", func(s *statesync.Session) { s.Key = statesync.Key{Proto: 6} }, ErrUnsupportedFlow},
		{"mixed", func(s *statesync.Session) { s.Key.Dst = ap("[2001:db8::2]:2") }, ErrUnsupportedFlow},
		{"mixed nat", func(s *statesync.Session) {
			s.ReplySrc, s.ReplyDst = ap("[2001:db8::2]:2"), ap("[2001:db8::1]:1")
		}, ErrUnsupportedFlow},
		{"icmp error type", func(s *statesync.Session) { s.Key.Proto, s.Key.Dst = 1, ap("198.18.2.2:768") }, ErrUnsupportedFlow},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := base
			tt.mod(&s)
			_, err := SessionToFlow(s, now, time.Hour)
			require.ErrorIs(t, err, tt.err)
		})
	}
}

func TestSessionToFlowDetails(t *testing.T) {
	s := statesync.Session{
		Key:    statesync.Key{Proto: 6, Src: ap("198.18.1.2:1"), Dst: ap("198.18.2.2:2")},
		Status: uint32(ct.StatusConfirmed | ct.StatusAssured | ct.StatusSrcNATDone | ct.StatusDying | ct.StatusExpected),
	}
	f, err := SessionToFlow(s, now, 90*time.Minute)
	require.NoError(t, err)
	require.Equal(t, ct.StatusAssured|ct.StatusConfirmed, f.Status, "only creatable bits")
	require.Equal(t, uint32(5400), f.Timeout, "default timeout when never expiring")

	s.Expires = uint32(now.Unix()) + 10
	f, err = SessionToFlow(s, now.Add(9500*time.Millisecond), time.Hour)
	require.NoError(t, err)
	require.Equal(t, uint32(1), f.Timeout, "a partial second rounds up")
}

func TestFollowerApply(t *testing.T) {
	table := statesync.NewTable(0)
	var changes []statesync.Session
	var deletes int
	f := &Follower{table: table, cfg: (&Config{
		Now: func() time.Time { return now },
		OnChange: func(s statesync.Session, deleted bool) {
			changes = append(changes, s)
			if deleted {
				deletes++
			}
		},
		Rules:  &Rules{TCPStates: []uint8{statesync.TCPStateEstablished}},
		Filter: func(s *statesync.Session) bool { return s.Key.Zone != 99 },
		Sink:   table,
	}).withDefaults()}

	est := flow(6, "198.18.1.2:40000", "198.18.2.2:80", "198.18.2.2:80", "198.18.1.2:40000")
	est.Timeout = 100
	est.ProtoInfo.TCP = &ct.ProtoInfoTCP{State: statesync.TCPStateEstablished}
	old := flow(17, "198.18.1.9:1", "198.18.2.2:53", "198.18.2.2:53", "198.18.1.9:1")
	old.Timeout = 10
	gre := flow(47, "198.18.1.2:0", "198.18.2.2:0", "198.18.2.2:0", "198.18.1.2:0")
	zone99 := est
	zone99.Zone = 99
	for _, fl := range []ct.Flow{est, old, gre, zone99} {
		f.apply(ct.Event{Type: ct.EventNew, Flow: &fl})
	}
	require.Equal(t, 2, table.Len())
	require.Equal(t, FollowerStats{New: 4, Upserts: 2, Skipped: 1, Filtered: 1}, f.Stats())

	// An update without protocol info keeps the state; a destroy removes.
	upd := est
	upd.ProtoInfo = ct.ProtoInfo{}
	upd.Timeout = 200
	f.apply(ct.Event{Type: ct.EventUpdate, Flow: &upd})
	key := statesync.Key{Proto: 6, Src: ap("198.18.1.2:40000"), Dst: ap("198.18.2.2:80")}
	got, ok := table.Get(key)
	require.True(t, ok)
	require.Equal(t, statesync.TCPStateEstablished, got.State)
	require.Equal(t, uint32(now.Unix())+200, got.Expires)
	require.Equal(t, uint64(2), got.Version)

	f.apply(ct.Event{Type: ct.EventDestroy, Flow: &old})
	f.apply(ct.Event{Type: ct.EventDestroy, Flow: &old}) // twice: no change
	f.apply(ct.Event{Type: ct.EventNew, Flow: &gre})
	f.apply(ct.Event{Type: ct.EventNew})                // no flow
	f.apply(ct.Event{Type: ct.EventExpNew, Flow: &est}) // expectations are ignored
	dying := est
	dying.Status |= ct.StatusDying
	f.apply(ct.Event{Type: ct.EventUpdate, Flow: &dying})
	require.Equal(t, 1, table.Len())
	require.Equal(t, 1, deletes)
	require.Len(t, changes, 4) // 2 new, 1 update, 1 destroy
	st := f.Stats()
	require.Equal(t, uint64(2), st.Destroys)
	require.Equal(t, uint64(3), st.Skipped)

	// The connection leaves the accepted states: it leaves the table.
	fin := est
	fin.ProtoInfo.TCP = &ct.ProtoInfoTCP{State: statesync.TCPStateFinWait}
	f.apply(ct.Event{Type: ct.EventUpdate, Flow: &fin})
	_, ok = table.Get(key)
	require.False(t, ok, "a state the rules do not accept removes the session")
	require.Equal(t, 2, deletes)
}

func TestNATBindings(t *testing.T) {
	k := statesync.Key{Proto: 6, Src: ap("198.18.1.2:40000"), Dst: ap("198.18.2.100:80")}
	tests := []struct {
		name       string
		rsrc, rdst string
		snat, dnat netip.AddrPort
	}{
		{"none", "", "", netip.AddrPort{}, netip.AddrPort{}},
		{"source", "198.18.2.100:80", "198.18.2.1:61000", ap("198.18.2.1:61000"), netip.AddrPort{}},
		{"destination", "198.18.2.3:8080", "198.18.1.2:40000", netip.AddrPort{}, ap("198.18.2.3:8080")},
		{"both", "198.18.2.3:8080", "198.18.2.1:61000", ap("198.18.2.1:61000"), ap("198.18.2.3:8080")},
		{"port only", "198.18.2.100:80", "198.18.1.2:1", ap("198.18.1.2:1"), netip.AddrPort{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := statesync.Session{Key: k, Expires: uint32(now.Unix()) + 60, State: statesync.TCPStateEstablished}
			if tt.rsrc != "" {
				s.ReplySrc, s.ReplyDst = ap(tt.rsrc), ap(tt.rdst)
			}
			snat, dnat := natBindings(&s)
			require.Equal(t, tt.snat, snat)
			require.Equal(t, tt.dnat, dnat)
		})
	}
	icmp := statesync.Session{Key: statesync.Key{Proto: 1, Src: ap("198.18.1.2:4660"), Dst: ap("198.18.2.2:2048")},
		ReplySrc: ap("198.18.2.2:4660"), ReplyDst: ap("198.18.2.1:0")}
	snat, dnat := natBindings(&icmp)
	require.Equal(t, ap("198.18.2.1:0"), snat)
	require.False(t, dnat.IsValid())
}

// TestWriteMessage checks the messages the injector encodes against
// github.com/ti-mo/conntrack's decoder and SessionToFlow, its own
// conversion: the same tuples, timeout, status, mark, zone and protocol
// state; and the NAT bindings against natBindings.
func TestWriteMessage(t *testing.T) {
	sessions := []statesync.Session{
		{Key: statesync.Key{Zone: 3, Proto: 6, Src: ap("198.18.1.2:40000"), Dst: ap("198.18.2.2:80")},
			State: statesync.TCPStateEstablished, Status: uint32(ct.StatusAssured | ct.StatusSeenReply | ct.StatusDying),
			Expires: uint32(now.Unix()) + 100, Mark: 9},
		{Key: statesync.Key{Proto: 6, Src: ap("198.18.1.2:40000"), Dst: ap("198.18.2.100:80")},
			ReplySrc: ap("198.18.2.3:8080"), ReplyDst: ap("198.18.2.1:61000"), State: statesync.TCPStateSynSent,
			Expires: uint32(now.Unix()) + 120},
		{Key: statesync.Key{Proto: 17, Src: ap("[2001:db8::1]:5000"), Dst: ap("[2001:db8::2]:53")},
			ReplySrc: ap("[2001:db8::2]:53"), ReplyDst: ap("[2001:db8::ff]:1"), Expires: uint32(now.Unix()) + 1},
		{Key: statesync.Key{Proto: 132, Src: ap("198.18.1.2:5000"), Dst: ap("198.18.2.2:3868")},
			State: 3, Expires: uint32(now.Unix()) + 60},
		{Key: statesync.Key{Proto: 33, Src: ap("198.18.1.2:5000"), Dst: ap("198.18.2.2:3868")},
			State: 2, Expires: uint32(now.Unix()) + 60},
		{Key: statesync.Key{Proto: 1, Src: ap("198.18.1.2:4660"), Dst: ap("198.18.2.2:2048")},
			ReplySrc: ap("198.18.2.2:4660"), ReplyDst: ap("198.18.2.1:0"), Expires: uint32(now.Unix()) + 30},
		{Key: statesync.Key{Proto: 58, Src: ap("[2001:db8::1]:7"), Dst: ap("[2001:db8::2]:32768")},
			Expires: uint32(now.Unix()) + 30},
		// An FTP control connection through NAT: its helper and the
		// adjustment of a resized PORT command.
		{Key: statesync.Key{Proto: 6, Src: ap("198.18.1.2:40010"), Dst: ap("198.18.2.2:21")},
			ReplySrc: ap("198.18.2.2:21"), ReplyDst: ap("198.18.2.1:61010"), State: statesync.TCPStateEstablished,
			Expires: uint32(now.Unix()) + 300, Helper: "ftp",
			SeqAdj: [2]statesync.SeqAdj{{CorrectionPos: 1000, Before: 0, After: -2}}},
	}
	for _, s := range sessions {
		t.Run(s.Key.Src.String(), func(t *testing.T) {
			require.NoError(t, check(&s))
			var m msgBuf
			m.appendWrite(7, 0, &s, 130, formCreate)
			require.Equal(t, len(m.b), int(binary.NativeEndian.Uint32(m.b)), "length")
			require.Zero(t, len(m.b)%4, "aligned")
			msg := netlink.Message{
				Header: netlink.Header{Type: netlink.HeaderType(binary.NativeEndian.Uint16(m.b[4:])),
					Flags: netlink.HeaderFlags(binary.NativeEndian.Uint16(m.b[6:]))},
				Data: m.b[16:],
			}
			require.Equal(t, netlink.Request|netlink.Create, msg.Header.Flags)
			var ev ct.Event
			require.NoError(t, ev.Unmarshal(msg))
			plain := s
			plain.ReplySrc, plain.ReplyDst = netip.AddrPort{}, netip.AddrPort{}
			want, err := SessionToFlow(plain, now, time.Hour)
			require.NoError(t, err)
			want.Timeout = 130
			require.Equal(t, want, *ev.Flow)

			_, attrs, err := netfilter.UnmarshalNetlink(msg)
			require.NoError(t, err)
			var gotSNAT, gotDNAT netip.Addr
			for _, a := range attrs {
				if a.Type != ctaNATSrc && a.Type != ctaNATDst {
					continue
				}
				require.True(t, a.Nested)
				ip, ok := netip.AddrFromSlice(a.Children[0].Data)
				require.True(t, ok)
				if a.Type == ctaNATSrc {
					gotSNAT = ip
				} else {
					gotDNAT = ip
				}
				require.Equal(t, a.Children[0].Data, a.Children[1].Data, "min = max")
				if hasPorts(s.Key.Proto) {
					require.Len(t, a.Children, 3)
				}
			}
			snat, dnat := natBindings(&s)
			require.Equal(t, snat.Addr(), gotSNAT)
			require.Equal(t, dnat.Addr(), gotDNAT)

			require.Equal(t, s.Helper, ev.Flow.Helper.Name)

			// The update carries the original tuple only, and no helper.
			m.b = m.b[:0]
			m.appendWrite(8, 0, &s, 130, formUpdateNoStatus)
			ev = ct.Event{}
			msg.Data = m.b[16:]
			msg.Header.Flags = netlink.HeaderFlags(binary.NativeEndian.Uint16(m.b[6:]))
			require.NoError(t, ev.Unmarshal(msg))
			require.Equal(t, want.TupleOrig, ev.Flow.TupleOrig)
			require.False(t, ev.Flow.TupleReply.IP.SourceAddress.IsValid())
			require.Zero(t, ev.Flow.Status)
			require.Empty(t, ev.Flow.Helper.Name)
			require.Equal(t, want.SeqAdjOrig, ev.Flow.SeqAdjOrig, "adjustments change: in updates too")
		})
	}
}

// BenchmarkWriteMessage: encoding one create message (0 allocs).
func BenchmarkWriteMessage(b *testing.B) {
	s := statesync.Session{Key: statesync.Key{Proto: 6, Src: ap("198.18.1.2:40000"), Dst: ap("198.18.2.2:80")},
		ReplySrc: ap("198.18.2.2:80"), ReplyDst: ap("198.18.2.1:61000"),
		State: statesync.TCPStateEstablished, Expires: uint32(now.Unix()) + 300}
	var m msgBuf
	b.ReportAllocs()
	for b.Loop() {
		m.b = m.b[:0]
		m.appendWrite(1, 0, &s, 300, formCreate)
	}
}

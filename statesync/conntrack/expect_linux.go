package conntrack

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/mdlayher/netlink"
	ct "github.com/ti-mo/conntrack"
	"golang.org/x/sys/unix"

	"github.com/hakit/hakit/statesync"
)

// Expectations through github.com/ti-mo/conntrack v0.6.0: it decodes them
// (in dumps and in the NEW and DESTROY events of the expectation groups)
// and creates them (Conn.CreateExpect), which is what this file uses. It
// lacks:
//   - a way to delete or look up one expectation (there is no
//     IPCTNL_MSG_EXP_DELETE nor EXP_GET of a single tuple): an expectation
//     the standby wrote stays until the expected connection arrives or it
//     times out;
//   - an update: CreateExpect always asks for NLM_F_CREATE|NLM_F_EXCL, and
//     the kernel gives a created expectation its helper's full timeout
//     (FTP 5 min, SIP 3 min), not the time it had left on the active unit;
//   - the NUL that ends a name: it sends CTA_EXPECT_HELP_NAME and
//     CTA_EXPECT_FN without one, which the kernel refuses (EINVAL), so
//     ExpectationToExpect puts it in the names it hands over;
//   - batching: each CreateExpect is one request and one acknowledgement
//     (expectations are few: at most statesync.MaxExpectations);
//   - a dump on a socket of our own: the Follower dumps them on its batch
//     socket (msgExpGet below) and decodes the replies with the library's
//     Event.Unmarshal.

// msgExpGet is IPCTNL_MSG_EXP_GET of the NFNL_SUBSYS_CTNETLINK_EXP
// subsystem.
const msgExpGet = 2<<8 | 1

// expFnNames are the functions the kernel names for expected connections
// (nf_ct_helper_expectfn): the NAT helpers' ones.
var expFnNames = map[string]string{"nat-follow-master": "nat-follow-master", "sip": "sip", "Q.931": "Q.931", "H.245": "H.245"}

// ExpectToExpectation converts a kernel expectation to its replicated
// form, its deadline computed from the time it has left and now. It
// returns an error wrapping ErrUnsupportedFlow for one whose tuples are
// missing, mix address families or have no ports (only TCP, UDP, UDP-Lite,
// SCTP and DCCP connections are expected).
func ExpectToExpectation(ex ct.Expect, now time.Time) (statesync.Expectation, error) {
	var e statesync.Expectation
	if !validTuple(ex.Tuple) || !validTuple(ex.TupleMaster) || ex.Tuple.IP.SourceAddress.Is4() != ex.TupleMaster.IP.SourceAddress.Is4() ||
		!hasPorts(ex.Tuple.Proto.Protocol) || !hasPorts(ex.TupleMaster.Proto.Protocol) {
		return e, fmt.Errorf("conntrack: expectation %v of %v: %w", ex.Tuple, ex.TupleMaster, ErrUnsupportedFlow)
	}
	e.Key.Zone, e.Key.Proto = ex.Zone, ex.Tuple.Proto.Protocol
	e.Key.Src, e.Key.Dst = endpoints(ex.Tuple)
	e.Master.Zone, e.Master.Proto = ex.Zone, ex.TupleMaster.Proto.Protocol
	e.Master.Src, e.Master.Dst = endpoints(ex.TupleMaster)
	if m := ex.Mask.IP.SourceAddress.Unmap(); m.IsValid() && !m.IsUnspecified() {
		e.SrcMask = m
	}
	e.SrcPortMask = ex.Mask.Proto.SourcePort
	e.Expires = statesync.Deadline(now.Add(time.Duration(ex.Timeout) * time.Second))
	e.Helper, e.Class, e.Flags = ex.HelpName, ex.Class, ex.Flags
	if name, ok := expFnNames[ex.Function]; ok {
		e.Fn = name
	} else if ex.Function != "" {
		return e, fmt.Errorf("conntrack: expectation %v: function %q: %w", ex.Tuple, ex.Function, ErrUnsupportedFlow)
	}
	if len(e.Helper) > statesync.MaxHelperLen {
		return e, fmt.Errorf("conntrack: expectation %v: helper %q: %w", ex.Tuple, ex.HelpName, ErrUnsupportedFlow)
	}
	if a := ex.NAT.Tuple.IP.SourceAddress.Unmap(); a.IsValid() && (!a.IsUnspecified() || ex.NAT.Tuple.Proto.SourcePort != 0) {
		e.NATSrc = netip.AddrPortFrom(a, ex.NAT.Tuple.Proto.SourcePort)
		if ex.NAT.Direction {
			e.NATDir = 1
		}
	}
	return e, nil
}

// ExpectationToExpect converts a replicated expectation to the request
// that creates it in the kernel, with the time it has left (at least 1 s).
// The kernel finds the master by e.Master in e.Key's zone.
func ExpectationToExpect(e statesync.Expectation, now time.Time) (ct.Expect, error) {
	if !e.Key.Src.Addr().IsValid() || !e.Key.Dst.Addr().IsValid() || !e.Master.Src.Addr().IsValid() || !e.Master.Dst.Addr().IsValid() ||
		e.Key.Src.Addr().Unmap().Is4() != e.Master.Src.Addr().Unmap().Is4() || !hasPorts(e.Key.Proto) || !hasPorts(e.Master.Proto) {
		return ct.Expect{}, fmt.Errorf("conntrack: expectation %v of %v: %w", e.Key, e.Master, ErrUnsupportedFlow)
	}
	v4 := e.Key.Src.Addr().Unmap().Is4()
	any, all := netip.IPv6Unspecified(), netip.AddrFrom16([16]byte{0: 0xff, 1: 0xff, 2: 0xff, 3: 0xff, 4: 0xff, 5: 0xff, 6: 0xff, 7: 0xff, 8: 0xff, 9: 0xff, 10: 0xff, 11: 0xff, 12: 0xff, 13: 0xff, 14: 0xff, 15: 0xff})
	if v4 {
		any, all = netip.IPv4Unspecified(), netip.AddrFrom4([4]byte{0xff, 0xff, 0xff, 0xff})
	}
	mask := e.SrcMask.Unmap()
	if !mask.IsValid() || mask.Is4() != v4 {
		mask = any
	}
	secs := uint32(1)
	if left := int64(e.Expires) - now.Unix(); left > 1 {
		secs = uint32(min(left, int64(^uint32(0))))
	}
	ex := ct.Expect{
		// The tuples' own zone must stay 0: the kernel takes the zone
		// from CTA_EXPECT_ZONE and refuses CTA_TUPLE_ZONE here.
		TupleMaster: tuple(e.Master.Proto, 0, e.Master.Src, e.Master.Dst),
		Tuple:       tuple(e.Key.Proto, 0, e.Key.Src, e.Key.Dst),
		Mask: ct.Tuple{IP: ct.IPTuple{SourceAddress: mask, DestinationAddress: all},
			Proto: ct.ProtoTuple{Protocol: e.Key.Proto, SourcePort: e.SrcPortMask, DestinationPort: 0xffff}},
		Timeout: secs, Zone: e.Key.Zone,
		HelpName: nulString(e.Helper), Function: nulString(e.Fn), Class: e.Class, Flags: e.Flags,
	}
	if e.NATSrc.IsValid() {
		ex.NAT = ct.ExpectNAT{Direction: e.NATDir == 1,
			Tuple: ct.Tuple{IP: ct.IPTuple{SourceAddress: e.NATSrc.Addr().Unmap(), DestinationAddress: any},
				Proto: ct.ProtoTuple{Protocol: e.Key.Proto, SourcePort: e.NATSrc.Port()}}}
	}
	return ex, nil
}

// event decodes a data reply with the library's decoder.
func (r *reply) event() (ct.Event, error) {
	var ev ct.Event
	err := ev.Unmarshal(netlink.Message{
		Header: netlink.Header{Type: netlink.HeaderType(r.Type), Flags: netlink.HeaderFlags(r.Flags), Sequence: r.Seq},
		Data:   r.Msg,
	})
	return ev, err
}

// nulString returns s with the NUL the kernel requires at the end of a
// name (NLA_NUL_STRING), which the library does not add; "" stays empty
// (not sent).
func nulString(s string) string {
	if s == "" {
		return ""
	}
	return s + "\x00"
}

// expect decodes the expectation a data reply holds (a dump's).
func (r *reply) expect() (ct.Expect, error) {
	ev, err := r.event()
	if err != nil || ev.Expect == nil {
		return ct.Expect{}, fmt.Errorf("conntrack: decode a kernel expectation: %w (%v)", ErrUnsupportedFlow, err)
	}
	return *ev.Expect, nil
}

func (f *Follower) upsertExpect(e statesync.Expectation) {
	ok := false
	if s, is := f.cfg.Sink.(ExpectSink); is {
		ok = s.UpsertExpect(e)
	} else {
		ok = f.table.UpsertExpect(f.cfg.Now(), e)
	}
	if ok {
		f.count(func(s *FollowerStats) { s.Expectations++ })
	} else {
		f.count(func(s *FollowerStats) { s.ExpectDrops++ })
	}
}

func (f *Follower) deleteExpect(k statesync.Key) {
	if s, is := f.cfg.Sink.(ExpectSink); is {
		s.DeleteExpect(k)
		return
	}
	f.table.DeleteExpect(k)
}

// applyExpect applies an expectation event.
func (f *Follower) applyExpect(ev ct.Event) {
	e, err := ExpectToExpectation(*ev.Expect, f.cfg.Now())
	if err != nil {
		f.count(func(s *FollowerStats) { s.Skipped++ })
		f.cfg.Logger.Debug("conntrack: expectation skipped", "err", err)
		return
	}
	switch ev.Type {
	case ct.EventExpNew:
		f.upsertExpect(e)
	case ct.EventExpDestroy:
		f.deleteExpect(e.Key)
	}
}

// dumpExpects reads the kernel's expectations, writes them, and removes
// the table's expectations the dump did not contain.
func (f *Follower) dumpExpects() error {
	seen := make(map[statesync.Key]bool)
	now := f.cfg.Now()
	f.nl.m.end(f.nl.m.begin(msgExpGet, unix.NLM_F_DUMP, f.nl.next(), unix.AF_UNSPEC))
	err := f.nl.dump(func(r reply) {
		ex, err := r.expect()
		if err == nil {
			var e statesync.Expectation
			if e, err = ExpectToExpectation(ex, now); err == nil {
				seen[e.Key] = true
				f.upsertExpect(e)
				return
			}
		}
		f.count(func(s *FollowerStats) { s.Skipped++ })
		f.cfg.Logger.Debug("conntrack: expectation skipped", "err", err)
	})
	if err != nil {
		return fmt.Errorf("conntrack: dump expectations: %w", err)
	}
	for _, e := range f.table.Expectations(nil) {
		if !seen[e.Key] {
			f.deleteExpect(e.Key)
		}
	}
	return nil
}

// writeExpects creates the table's expectations in the kernel, after
// their masters (Commit); in.mu is held. An expectation whose master the
// table does not hold is skipped, one the Guard refuses is counted, and
// one the kernel refuses (its master has no helper there, the helper is
// not registered, it exists already) is counted in ExpectFailed.
func (in *Injector) writeExpects(now time.Time, table *statesync.Table) int {
	n := 0
	for _, e := range table.Expectations(nil) {
		if _, ok := table.Get(e.Master); !ok {
			in.stats.ExpectSkipped++
			continue
		}
		if err := in.cfg.Guard.CheckExpect(now, &e); err != nil {
			in.stats.Refused++
			in.cfg.Logger.Warn("conntrack: expectation refused", "err", err)
			continue
		}
		ex, err := ExpectationToExpect(e, now)
		if err != nil {
			in.stats.ExpectSkipped++
			continue
		}
		if err := in.exp.CreateExpect(ex); err != nil {
			in.stats.ExpectFailed++
			in.cfg.Logger.Warn("conntrack: the kernel refused an expectation", "expected", e.Key, "master", e.Master, "err", err)
			continue
		}
		in.stats.Expectations++
		n++
	}
	return n
}

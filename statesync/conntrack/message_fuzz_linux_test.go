package conntrack

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/mdlayher/netlink"
	ct "github.com/ti-mo/conntrack"

	"github.com/hakit/hakit/statesync"
)

// FuzzNATMessage: the message that writes any session the kernel can hold
// decodes (with github.com/ti-mo/conntrack and netlink's attribute decoder)
// back to the session's original tuple, timeout, mark and zone, and its
// NAT bindings, applied to the original tuple as the kernel applies them,
// give the session's reply tuple.
func FuzzNATMessage(f *testing.F) {
	v4 := func(b ...byte) []byte { return b }
	f.Add(uint8(6), v4(198, 18, 1, 2), uint16(40000), v4(198, 18, 2, 2), uint16(80), []byte{}, uint16(0), []byte{}, uint16(0), uint32(0), uint16(0))
	// DNAT to 198.18.2.3:8080.
	f.Add(uint8(6), v4(198, 18, 1, 2), uint16(40004), v4(198, 18, 2, 100), uint16(80), v4(198, 18, 2, 3), uint16(8080), v4(198, 18, 1, 2), uint16(40004), uint32(7), uint16(3))
	// SNAT behind 198.18.2.1, UDP.
	f.Add(uint8(17), v4(198, 18, 1, 2), uint16(5000), v4(198, 18, 2, 2), uint16(53), v4(198, 18, 2, 2), uint16(53), v4(198, 18, 2, 1), uint16(61000), uint32(0), uint16(0))
	// ICMP echo, source NAT (by address only).
	f.Add(uint8(1), v4(198, 18, 1, 2), uint16(77), v4(198, 18, 2, 2), uint16(8<<8), v4(198, 18, 2, 2), uint16(77), v4(198, 18, 2, 1), uint16(0), uint32(0), uint16(0))
	f.Add(uint8(17), []byte{0x20, 1, 0xd, 0xb8, 15: 1}, uint16(5000), []byte{0x20, 1, 0xd, 0xb8, 15: 2}, uint16(53), []byte{}, uint16(0), []byte{}, uint16(0), uint32(0), uint16(0))
	f.Fuzz(func(t *testing.T, proto uint8, src []byte, sport uint16, dst []byte, dport uint16, rsrc []byte, rsport uint16, rdst []byte, rdport uint16, mark uint32, zone uint16) {
		ap := func(b []byte, port uint16) netip.AddrPort {
			a, _ := netip.AddrFromSlice(b)
			return netip.AddrPortFrom(a, port)
		}
		s := statesync.Session{Key: statesync.Key{Proto: proto, Zone: zone, Src: ap(src, sport), Dst: ap(dst, dport)},
			Mark: mark, ReplySrc: ap(rsrc, rsport), ReplyDst: ap(rdst, rdport)}
		if check(&s) != nil {
			return
		}
		var m msgBuf
		m.appendWrite(9, 0, &s, 3600, formCreate)
		if n := binary.NativeEndian.Uint32(m.b); n != uint32(len(m.b)) {
			t.Fatalf("%+v: message of %d bytes says %d", s, len(m.b), n)
		}
		var nm netlink.Message
		if err := nm.UnmarshalBinary(m.b); err != nil {
			t.Fatalf("%+v: %x: %v", s, m.b, err)
		}
		var e ct.Event
		if err := e.Unmarshal(nm); err != nil {
			t.Fatalf("%+v: %x: %v", s, m.b, err)
		}
		k, rs, rd := unmapped(&s)
		fl := e.Flow
		if os, od := endpoints(fl.TupleOrig); fl.TupleOrig.Proto.Protocol != proto || os != k.Src || od != k.Dst {
			t.Fatalf("%+v: original tuple %+v", s, fl.TupleOrig)
		}
		if fl.Timeout != 3600 || fl.Mark != mark || fl.Zone != zone {
			t.Fatalf("%+v: timeout %d, mark %d, zone %d", s, fl.Timeout, fl.Mark, fl.Zone)
		}

		snat, dnat := decodeBindings(t, nm.Data[4:])
		// The kernel translates the original's source (SNAT) and
		// destination (DNAT); the reply goes from the one to the other.
		to := func(b binding, a netip.AddrPort) netip.AddrPort {
			if !b.set {
				return a
			}
			if b.lo != b.hi || b.plo != b.phi {
				t.Fatalf("%+v: a binding to a range %+v", s, b)
			}
			port := a.Port()
			if b.ports {
				port = b.plo
			}
			return netip.AddrPortFrom(b.lo, port)
		}
		ts, td := to(snat, k.Src), to(dnat, k.Dst)
		if isICMP(proto) {
			if td.Addr() != rs.Addr() || ts.Addr() != rd.Addr() {
				t.Fatalf("%+v: bindings %+v %+v translate to %v → %v, reply %v → %v", s, snat, dnat, ts, td, rs, rd)
			}
			return
		}
		if td != rs || ts != rd {
			t.Fatalf("%+v: bindings %+v %+v translate to %v → %v, reply %v → %v", s, snat, dnat, ts, td, rs, rd)
		}
	})
}

// binding is a decoded CTA_NAT_SRC or CTA_NAT_DST.
type binding struct {
	set, ports bool
	lo, hi     netip.Addr
	plo, phi   uint16
}

// decodeBindings reads the NAT bindings among a message's attributes.
func decodeBindings(t *testing.T, b []byte) (snat, dnat binding) {
	t.Helper()
	ad, err := netlink.NewAttributeDecoder(b)
	if err != nil {
		t.Fatal(err)
	}
	for ad.Next() {
		var out *binding
		switch ad.Type() {
		case ctaNATSrc:
			out = &snat
		case ctaNATDst:
			out = &dnat
		default:
			continue
		}
		out.set = true
		ad.Nested(func(nd *netlink.AttributeDecoder) error {
			for nd.Next() {
				switch nd.Type() {
				case ctaNATV4Min, ctaNATV6Min:
					out.lo, _ = netip.AddrFromSlice(nd.Bytes())
				case ctaNATV4Min + 1, ctaNATV6Min + 1:
					out.hi, _ = netip.AddrFromSlice(nd.Bytes())
				case ctaNATProto:
					out.ports = true
					nd.Nested(func(pd *netlink.AttributeDecoder) error {
						for pd.Next() {
							switch pd.Type() {
							case ctaNATPortMin:
								out.plo = binary.BigEndian.Uint16(pd.Bytes())
							case ctaNATPortMin + 1:
								out.phi = binary.BigEndian.Uint16(pd.Bytes())
							}
						}
						return nil
					})
				}
			}
			return nil
		})
	}
	if err := ad.Err(); err != nil {
		t.Fatal(err)
	}
	return snat, dnat
}

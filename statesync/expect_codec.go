package statesync

import (
	"encoding/binary"
	"fmt"
	"net/netip"
)

// The records of expectations (wire version 4).
//
// ExpectUpsert (op 5) carries the expectation's key, as a session's key
// in an Upsert but with fam's bits 4-7 holding the families of the master
// key's addresses, then
//
//	mproto(1) msport(2) mdport(2) msrc(0|4|16) mdst(0|4|16)
//	maskfam(1) srcmask(0|4|16) srcportmask(2) expires(4) class(4) flags(4)
//	natdir(1) natfam(1) natport(2) natsrc(0|4|16)
//	hlen(1) helper(hlen) fnlen(1) fn(fnlen)
//
// with natdir 0 or 1, hlen at most MaxHelperLen, fnlen at most
// MaxExpectFnLen, and the master in the
// expectation's zone. ExpectDelete (op 6) is op(1) and the key, as a
// session's Delete.
const (
	opExpect       recordOp = 5
	opExpectDelete recordOp = 6
)

func expectLen(e *Expectation) int {
	return 9 + addrLen(famOf(e.Key.Src.Addr())) + addrLen(famOf(e.Key.Dst.Addr())) +
		5 + addrLen(famOf(e.Master.Src.Addr())) + addrLen(famOf(e.Master.Dst.Addr())) +
		1 + addrLen(famOf(e.SrcMask)) + 14 +
		4 + addrLen(famOf(e.NATSrc.Addr())) +
		2 + len(e.Helper) + len(e.Fn)
}

// appendKey appends fam, proto, zone, ports and addresses of k, with more
// in fam's bits 4-7.
func appendKey(b []byte, k *Key, more uint8) []byte {
	fam := famOf(k.Src.Addr()) | famOf(k.Dst.Addr())<<2 | more<<4
	b = append(b, fam, k.Proto)
	b = binary.BigEndian.AppendUint16(b, k.Zone)
	b = binary.BigEndian.AppendUint16(b, k.Src.Port())
	b = binary.BigEndian.AppendUint16(b, k.Dst.Port())
	b = appendAddr(b, k.Src.Addr())
	return appendAddr(b, k.Dst.Addr())
}

func appendExpect(b []byte, op recordOp, e *Expectation) ([]byte, error) {
	b = append(b, byte(op))
	if op == opExpectDelete {
		return appendKey(b, &e.Key, 0), nil
	}
	switch {
	case len(e.Helper) > MaxHelperLen || len(e.Fn) > MaxExpectFnLen:
		return b[:len(b)-1], fmt.Errorf("statesync: encode expectation: helper %d bytes, function %d: %w", len(e.Helper), len(e.Fn), ErrMalformed)
	case e.NATDir > 1:
		return b[:len(b)-1], fmt.Errorf("statesync: encode expectation: NAT direction %d: %w", e.NATDir, ErrMalformed)
	case e.Master.Zone != e.Key.Zone:
		return b[:len(b)-1], fmt.Errorf("statesync: encode expectation: master in zone %d, expectation in %d: %w", e.Master.Zone, e.Key.Zone, ErrMalformed)
	}
	m := &e.Master
	b = appendKey(b, &e.Key, famOf(m.Src.Addr())|famOf(m.Dst.Addr())<<2)
	b = append(b, m.Proto)
	b = binary.BigEndian.AppendUint16(b, m.Src.Port())
	b = binary.BigEndian.AppendUint16(b, m.Dst.Port())
	b = appendAddr(b, m.Src.Addr())
	b = appendAddr(b, m.Dst.Addr())
	b = append(b, famOf(e.SrcMask))
	b = appendAddr(b, e.SrcMask)
	b = binary.BigEndian.AppendUint16(b, e.SrcPortMask)
	b = binary.BigEndian.AppendUint32(b, e.Expires)
	b = binary.BigEndian.AppendUint32(b, e.Class)
	b = binary.BigEndian.AppendUint32(b, e.Flags)
	b = append(b, e.NATDir, famOf(e.NATSrc.Addr()))
	b = binary.BigEndian.AppendUint16(b, e.NATSrc.Port())
	b = appendAddr(b, e.NATSrc.Addr())
	b = append(b, byte(len(e.Helper)))
	b = append(b, e.Helper...)
	b = append(b, byte(len(e.Fn)))
	return append(b, e.Fn...), nil
}

// decodeExpect decodes the expectation record of op at the start of b
// (b[0] is the op byte) into e and returns its length.
func decodeExpect(b []byte, op recordOp, e *Expectation) (int, error) {
	if len(b) < 9 {
		return 0, errShortRecord
	}
	fam := b[1]
	if err := checkFam(fam); err != nil {
		return 0, err
	}
	if op == opExpectDelete && fam>>4 != 0 {
		return 0, fmt.Errorf("statesync: record: expectation delete with a master: %w", ErrMalformed)
	}
	*e = Expectation{}
	p, ok := readKey(b, 1, &e.Key)
	if !ok {
		return 0, errShortRecord
	}
	if op == opExpectDelete {
		return p, nil
	}
	msf, mdf := fam>>4&3, fam>>6&3
	if len(b) < p+5+addrLen(msf)+addrLen(mdf)+1 {
		return 0, errShortRecord
	}
	e.Master = Key{Zone: e.Key.Zone, Proto: b[p]}
	msport, mdport := binary.BigEndian.Uint16(b[p+1:]), binary.BigEndian.Uint16(b[p+3:])
	p += 5
	e.Master.Src = netip.AddrPortFrom(readAddr(b[p:p+addrLen(msf)], msf), msport)
	p += addrLen(msf)
	e.Master.Dst = netip.AddrPortFrom(readAddr(b[p:p+addrLen(mdf)], mdf), mdport)
	p += addrLen(mdf)
	maskFam := b[p]
	if maskFam > famV6 {
		return 0, fmt.Errorf("statesync: record: mask family %d: %w", maskFam, ErrMalformed)
	}
	p++
	if len(b) < p+addrLen(maskFam)+14+4 {
		return 0, errShortRecord
	}
	e.SrcMask = readAddr(b[p:p+addrLen(maskFam)], maskFam)
	p += addrLen(maskFam)
	e.SrcPortMask = binary.BigEndian.Uint16(b[p:])
	e.Expires = binary.BigEndian.Uint32(b[p+2:])
	e.Class = binary.BigEndian.Uint32(b[p+6:])
	e.Flags = binary.BigEndian.Uint32(b[p+10:])
	p += 14
	natFam := b[p+1]
	e.NATDir = b[p]
	if e.NATDir > 1 || natFam > famV6 {
		return 0, fmt.Errorf("statesync: record: NAT direction %d family %d: %w", e.NATDir, natFam, ErrMalformed)
	}
	natPort := binary.BigEndian.Uint16(b[p+2:])
	p += 4
	if len(b) < p+addrLen(natFam)+1 {
		return 0, errShortRecord
	}
	if natFam == 0 && natPort != 0 {
		return 0, fmt.Errorf("statesync: record: NAT port without an address: %w", ErrMalformed)
	}
	if natFam != 0 {
		e.NATSrc = netip.AddrPortFrom(readAddr(b[p:p+addrLen(natFam)], natFam), natPort)
	}
	p += addrLen(natFam)
	var err error
	if e.Helper, p, err = readName(b, p, MaxHelperLen); err != nil {
		return 0, err
	}
	if e.Fn, p, err = readName(b, p, MaxExpectFnLen); err != nil {
		return 0, err
	}
	return p, nil
}

// checkFam checks a record's byte of four 2-bit address families.
func checkFam(fam uint8) error {
	for i := 0; i < 8; i += 2 {
		if fam>>i&3 == 3 {
			return fmt.Errorf("statesync: record: address family bits %#x: %w", fam, ErrMalformed)
		}
	}
	return nil
}

// readKey decodes the key whose fam byte is at b[p] (as appendKey wrote
// it) and returns the offset after it.
func readKey(b []byte, p int, k *Key) (int, bool) {
	if len(b) < p+8 {
		return 0, false
	}
	fam := b[p]
	sf, df := fam&3, fam>>2&3
	n := p + 8 + addrLen(sf) + addrLen(df)
	if len(b) < n {
		return 0, false
	}
	k.Proto = b[p+1]
	k.Zone = binary.BigEndian.Uint16(b[p+2:])
	sport, dport := binary.BigEndian.Uint16(b[p+4:]), binary.BigEndian.Uint16(b[p+6:])
	p += 8
	k.Src = netip.AddrPortFrom(readAddr(b[p:p+addrLen(sf)], sf), sport)
	p += addrLen(sf)
	k.Dst = netip.AddrPortFrom(readAddr(b[p:p+addrLen(df)], df), dport)
	return n, true
}

// readName decodes a length-prefixed helper or function name at b[p].
func readName(b []byte, p, max int) (string, int, error) {
	if len(b) < p+1 {
		return "", 0, errShortRecord
	}
	n := int(b[p])
	if n > max {
		return "", 0, fmt.Errorf("statesync: record: name of %d bytes: %w", n, ErrMalformed)
	}
	p++
	if len(b) < p+n {
		return "", 0, errShortRecord
	}
	name := b[p : p+n]
	if string(name) == "nat-follow-master" {
		return "nat-follow-master", p + n, nil
	}
	return helperName(name), p + n, nil
}

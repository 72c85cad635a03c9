package main

import (
	"errors"
	"net"
	"net/netip"
	"slices"

	"github.com/hakit/hakit/heartbeat"
	"github.com/hakit/hakit/statesync"
)

// sessionTargets bounds the session endpoints EIFD probes per interface,
// sessionScan the sessions read to find them (EIFD starts the search, and
// must not wait for a walk of a million sessions).
const (
	sessionTargets = 4
	sessionScan    = 4096
)

// sessionNeighbours is a heartbeat.NeighbourSource of the hosts the
// replicated sessions talk to on an interface's connected subnets. A
// standby forwards nothing, so its kernel's neighbour cache on the traffic
// interfaces is empty once a restart, a carrier loss or a MAC change has
// flushed it; the sessions it mirrors name the primary's neighbours, which
// answer ARP just as well.
type sessionNeighbours struct{ d *daemon }

func (s sessionNeighbours) Neighbours(ifname string) ([]netip.Addr, error) {
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return nil, err
	}
	addrs, err := ifi.Addrs()
	if err != nil {
		return nil, err
	}
	var subnets []netip.Prefix
	for _, a := range addrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil && p.Addr().IsGlobalUnicast() {
			subnets = append(subnets, p.Masked())
		}
	}
	table := s.d.table
	var out []netip.Addr
	scanned := 0
	add := func(a netip.Addr) {
		a = a.Unmap()
		if !a.IsValid() || slices.Contains(out, a) {
			return
		}
		for _, p := range subnets {
			if p.Contains(a) && a != p.Addr() {
				out = append(out, a)
				return
			}
		}
	}
	table.Range(func(se statesync.Session) bool {
		for _, ap := range []netip.AddrPort{se.Key.Src, se.Key.Dst, se.ReplySrc, se.ReplyDst} {
			add(ap.Addr())
		}
		scanned++
		return len(out) < sessionTargets && scanned < sessionScan
	})
	return out, nil
}

// joinNeighbours lists what each source lists, in order, without
// duplicates; the errors of all are joined.
type joinNeighbours []heartbeat.NeighbourSource

func (j joinNeighbours) Neighbours(ifname string) ([]netip.Addr, error) {
	var out []netip.Addr
	var errs []error
	for _, src := range j {
		as, err := src.Neighbours(ifname)
		if err != nil {
			errs = append(errs, err)
		}
		for _, a := range as {
			if !slices.Contains(out, a) {
				out = append(out, a)
			}
		}
	}
	return out, errors.Join(errs...)
}

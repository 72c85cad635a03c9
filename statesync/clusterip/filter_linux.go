package clusterip

import (
	"encoding/binary"
	"fmt"
	"net"
	"slices"
	"sync"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"

	"github.com/hakit/hakit/statesync"
)

// Filter is the kernel's half of a unit's share: the nftables tables
// that keep this unit's buckets (see the package documentation), the
// owner map in them, and the interfaces' multicast memberships. Until the
// first Set the map is empty and the unit drops every frame to the
// cluster. Its methods are safe for concurrent use.
type Filter struct {
	cfg   Config
	ip    *nftables.Table
	arp   *nftables.Table
	owner *nftables.Set // bucket → unit, written by Set
	pairs *nftables.Set // the two half hashes → bucket, written once

	mu     sync.Mutex
	conn   *nftables.Conn // lasting: it stays in the namespace New ran in
	closed bool
	socks  []int // AF_PACKET sockets holding the multicast memberships
	owners []uint16
	stats  Stats
}

// Registers (the kernel's numbering): NFT_REG_1, and the 32-bit ones
// from NFT_REG32_00, which overlap it.
const (
	reg1    = 1
	reg32a  = 8  // NFT_REG32_00 to _03: a tuple
	regPair = 12 // NFT_REG32_04 and _05: its two hashes
)

// New installs the tables (replacing those a crashed run left) and joins
// the interfaces' multicast MACs. Close removes them.
func New(cfg *Config) (_ *Filter, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	f := &Filter{cfg: cfg.withDefaults()}
	name := fmt.Sprintf("hakit_clusterip_%d", f.cfg.Cluster)
	f.ip = &nftables.Table{Family: nftables.TableFamilyIPv4, Name: name}
	f.arp = &nftables.Table{Family: nftables.TableFamilyARP, Name: name}
	f.owner = &nftables.Set{Table: f.ip, Name: "owner", IsMap: true, KeyType: nftables.TypeMark, DataType: nftables.TypeMark}
	f.pairs = &nftables.Set{Table: f.ip, Name: "bucket", IsMap: true, Concatenation: true,
		KeyType: nftables.MustConcatSetType(nftables.TypeMark, nftables.TypeMark), DataType: nftables.TypeMark}
	defer func() {
		if err != nil {
			f.Close()
		}
	}()
	ifis := make([]*net.Interface, len(f.cfg.Interfaces))
	for i, ifc := range f.cfg.Interfaces {
		if ifis[i], err = net.InterfaceByName(ifc.Name); err != nil {
			return nil, fmt.Errorf("clusterip: %w", err)
		}
	}
	c, err := nftables.New(nftables.AsLasting())
	if err != nil {
		return nil, fmt.Errorf("clusterip: nftables: %w", err)
	}
	f.conn = c
	for _, t := range []*nftables.Table{f.ip, f.arp} {
		c.AddTable(t) // so that the deletion finds one
		c.DelTable(t)
		c.AddTable(t)
	}
	if err := c.AddSet(f.owner, nil); err != nil {
		return nil, fmt.Errorf("clusterip: owner map: %w", err)
	}
	n := f.cfg.Buckets
	pairs := make([]nftables.SetElement, 0, n*n)
	for b1 := range n {
		for b2 := range n {
			pairs = append(pairs, nftables.SetElement{Key: append(word(uint32(b1)), word(uint32(b2))...), Val: word(uint32((b1 + b2) % n))})
		}
	}
	if err := c.AddSet(f.pairs, nil); err != nil {
		return nil, fmt.Errorf("clusterip: bucket map: %w", err)
	}
	if err := addElements(c, f.pairs, pairs); err != nil {
		return nil, fmt.Errorf("clusterip: bucket map: %w", err)
	}
	f.rules(c)
	if err := c.Flush(); err != nil {
		return nil, fmt.Errorf("clusterip: install the tables: %w", err)
	}
	f.owners = []uint16{} // the tables are in: Close removes them
	for _, ifi := range ifis {
		fd, err := join(ifi, f.macOf(ifi.Name))
		if err != nil {
			return nil, err
		}
		f.socks = append(f.socks, fd)
	}
	return f, nil
}

func (f *Filter) macOf(name string) net.HardwareAddr {
	for _, ifc := range f.cfg.Interfaces {
		if ifc.Name == name {
			return ifc.MAC
		}
	}
	return nil
}

// join makes ifi accept frames to mac for as long as the returned socket
// is open.
func join(ifi *net.Interface, mac net.HardwareAddr) (int, error) {
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, &net.OpError{Op: "socket", Net: "packet", Err: err}
	}
	mr := unix.PacketMreq{Ifindex: int32(ifi.Index), Type: unix.PACKET_MR_MULTICAST, Alen: 6}
	copy(mr.Address[:], mac)
	if err := unix.SetsockoptPacketMreq(fd, unix.SOL_PACKET, unix.PACKET_ADD_MEMBERSHIP, &mr); err != nil {
		unix.Close(fd)
		return -1, &net.OpError{Op: "join " + mac.String(), Net: "packet", Source: nil, Err: err}
	}
	return fd, nil
}

// rules adds the chains and rules to the batch.
func (f *Filter) rules(c *nftables.Conn) {
	accept := nftables.ChainPolicyAccept
	pre := c.AddChain(&nftables.Chain{Name: "prerouting", Table: f.ip, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookPrerouting, Priority: nftables.ChainPriorityRef(-150), Policy: &accept})
	share := c.AddChain(&nftables.Chain{Name: "share", Table: f.ip})
	for _, ifc := range f.cfg.Interfaces {
		// iifname NAME ether daddr MAC jump share
		c.AddRule(&nftables.Rule{Table: f.ip, Chain: pre, Exprs: []expr.Any{
			&expr.Meta{Key: expr.MetaKeyIIFNAME, Register: reg1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: ifname(ifc.Name)},
			&expr.Payload{DestRegister: reg1, Base: expr.PayloadBaseLLHeader, Offset: 0, Len: 6},
			&expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: slices.Clone(ifc.MAC)},
			&expr.Verdict{Kind: expr.VerdictJump, Chain: share.Name},
		}})
	}
	// TCP and UDP by their four-tuple, the rest by the addresses: the
	// original tuple's hash into one register, the swapped tuple's into
	// the next, the pair looked up in the bucket map (their sum modulo the
	// buckets), the bucket in the owner map; the owner keeps the packet as
	// one to itself, everything else drops.
	for _, proto := range []byte{unix.IPPROTO_TCP, unix.IPPROTO_UDP, 0} {
		e := []expr.Any{&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: reg1}}
		if proto != 0 {
			e = append(e, &expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: []byte{proto}})
		} else {
			e = append(e, &expr.Cmp{Op: expr.CmpOpNeq, Register: reg1, Data: []byte{unix.IPPROTO_TCP}},
				&expr.Cmp{Op: expr.CmpOpNeq, Register: reg1, Data: []byte{unix.IPPROTO_UDP}})
		}
		for half := range uint32(2) {
			src, dst, sport, dport := expr.CtKeySRC, expr.CtKeyDST, expr.CtKeyPROTOSRC, expr.CtKeyPROTODST
			if half == 1 {
				src, dst, sport, dport = dst, src, dport, sport
			}
			e = append(e,
				&expr.Ct{Key: src, Direction: 0, Register: reg32a},
				&expr.Ct{Key: dst, Direction: 0, Register: reg32a + 1})
			n := uint32(8)
			if proto != 0 {
				e = append(e,
					&expr.Ct{Key: sport, Direction: 0, Register: reg32a + 2},
					&expr.Ct{Key: dport, Direction: 0, Register: reg32a + 3})
				n = 16
			}
			e = append(e, &expr.Hash{SourceRegister: reg32a, DestRegister: regPair + half, Length: n,
				Modulus: uint32(f.cfg.Buckets), Seed: statesync.BucketSeed, Type: expr.HashTypeJenkins})
		}
		e = append(e,
			&expr.Lookup{SourceRegister: regPair, DestRegister: reg1, IsDestRegSet: true, SetName: f.pairs.Name, SetID: f.pairs.ID},
			&expr.Lookup{SourceRegister: reg1, DestRegister: reg1, IsDestRegSet: true, SetName: f.owner.Name, SetID: f.owner.ID},
			&expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: word(uint32(f.cfg.Unit))},
			&expr.Immediate{Register: reg1, Data: []byte{unix.PACKET_HOST}},
			&expr.Meta{Key: expr.MetaKeyPKTTYPE, SourceRegister: true, Register: reg1},
			&expr.Verdict{Kind: expr.VerdictAccept})
		c.AddRule(&nftables.Rule{Table: f.ip, Chain: share, Exprs: e})
	}
	c.AddRule(&nftables.Rule{Table: f.ip, Chain: share, Exprs: []expr.Any{&expr.Counter{}, &expr.Verdict{Kind: expr.VerdictDrop}}})

	out := c.AddChain(&nftables.Chain{Name: "output", Table: f.arp, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookRef(1) /* NF_ARP_OUT */, Priority: nftables.ChainPriorityRef(0), Policy: &accept})
	for _, ifc := range f.cfg.Interfaces {
		for _, a := range ifc.Addrs {
			// oifname NAME arp saddr ip ADDR arp saddr ether set MAC
			a4 := a.As4()
			c.AddRule(&nftables.Rule{Table: f.arp, Chain: out, Exprs: []expr.Any{
				&expr.Meta{Key: expr.MetaKeyOIFNAME, Register: reg1},
				&expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: ifname(ifc.Name)},
				&expr.Payload{DestRegister: reg1, Base: expr.PayloadBaseNetworkHeader, Offset: 14, Len: 4},
				&expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: a4[:]},
				&expr.Immediate{Register: reg1, Data: slices.Clone(ifc.MAC)},
				&expr.Payload{OperationType: expr.PayloadWrite, SourceRegister: reg1, Base: expr.PayloadBaseNetworkHeader, Offset: 8, Len: 6},
			}})
		}
	}
}

// ifname is an interface name as the kernel compares it: padded to
// IFNAMSIZ.
func ifname(name string) []byte {
	b := make([]byte, unix.IFNAMSIZ)
	copy(b, name)
	return b
}

// word is a 32-bit register's value in the kernel's (native) byte order.
func word(v uint32) []byte { return binary.NativeEndian.AppendUint32(nil, v) }

// Set writes the owner map: owners[b] owns bucket b (len(owners) must be
// Config.Buckets; statesync.Schedule.Buckets computes it). The map is
// replaced in one transaction, so no packet sees a half-written map.
func (f *Filter) Set(owners []uint16) error {
	if len(owners) != f.cfg.Buckets {
		return fmt.Errorf("clusterip: %d owners for %d buckets", len(owners), f.cfg.Buckets)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return fmt.Errorf("clusterip: set: filter closed")
	}
	c := f.conn
	elems := make([]nftables.SetElement, len(owners))
	for b, u := range owners {
		elems[b] = nftables.SetElement{Key: word(uint32(b)), Val: word(uint32(u))}
	}
	c.FlushSet(f.owner)
	err := addElements(c, f.owner, elems)
	if err == nil {
		err = c.Flush()
	}
	if err != nil {
		f.stats.Errors++
		return fmt.Errorf("clusterip: write the owner map: %w", err)
	}
	f.stats.Updates++
	mine := 0
	for _, u := range owners {
		if u == f.cfg.Unit {
			mine++
		}
	}
	if !slices.Equal(f.owners, owners) {
		f.cfg.Logger.Info("clusterip: owner map written", "buckets", len(owners), "mine", mine)
	}
	f.owners = slices.Clone(owners)
	return nil
}

// addElements adds elems to the batch, in messages the kernel's
// acknowledgements fit.
func addElements(c *nftables.Conn, set *nftables.Set, elems []nftables.SetElement) error {
	for len(elems) > 0 {
		k := min(len(elems), 256)
		if err := c.SetAddElements(set, elems[:k]); err != nil {
			return err
		}
		elems = elems[k:]
	}
	return nil
}

// Stats returns the counters.
func (f *Filter) Stats() Stats {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.stats
}

// Close removes the tables and leaves the multicast MACs. The cluster's
// traffic no longer reaches this unit's stack.
func (f *Filter) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return nil
	}
	f.closed = true
	for _, fd := range f.socks {
		unix.Close(fd)
	}
	f.socks = nil
	if f.conn == nil {
		return nil
	}
	defer f.conn.CloseLasting()
	if f.owners == nil {
		return nil // nothing installed
	}
	f.conn.DelTable(f.ip)
	f.conn.DelTable(f.arp)
	if err := f.conn.Flush(); err != nil {
		return fmt.Errorf("clusterip: remove the tables: %w", err)
	}
	return nil
}

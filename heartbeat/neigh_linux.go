//go:build linux

package heartbeat

import (
	"cmp"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"

	"github.com/hakit/hakit/internal/link"

	"github.com/hakit/hakit"

	"github.com/jsimonetti/rtnetlink/v2"
	"golang.org/x/sys/unix"
)

// usableStates are the neighbour states whose link-layer address the kernel
// has confirmed at least once: the neighbours worth probing.
const usableStates = unix.NUD_REACHABLE | unix.NUD_STALE | unix.NUD_DELAY | unix.NUD_PROBE | unix.NUD_PERMANENT

// KernelNeighbours returns the kernel's neighbour table (ARP and NDP caches)
// as a NeighbourSource. Neighbours lists, for the named interface, the IPv4
// and IPv6 unicast neighbours in state REACHABLE, STALE, DELAY, PROBE or
// PERMANENT that have a link-layer address, IPv4 first, each family in
// address order.
//
// The rtnetlink socket is opened by KernelNeighbours in the network namespace
// of the calling thread, and every later query reads that namespace whatever
// thread makes it. If it cannot be opened, every Neighbours call returns the
// error. The returned value also implements io.Closer, which releases the
// socket.
func KernelNeighbours() NeighbourSource {
	c, err := rtnetlink.Dial(nil)
	if err != nil {
		return &kernelNeighbours{err: fmt.Errorf("heartbeat: kernel neighbours: %w", err)}
	}
	return &kernelNeighbours{conn: c}
}

type kernelNeighbours struct {
	mu   sync.Mutex
	conn *rtnetlink.Conn
	err  error
}

// Neighbours implements NeighbourSource.
func (k *kernelNeighbours) Neighbours(ifname string) ([]netip.Addr, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.err != nil {
		return nil, k.err
	}
	if k.conn == nil {
		return nil, fmt.Errorf("heartbeat: kernel neighbours of %s: %w", ifname, net.ErrClosed)
	}
	l, ok, err := link.ByName(k.conn, ifname)
	if err != nil {
		return nil, fmt.Errorf("heartbeat: kernel neighbours of %s: list links: %w", ifname, err)
	}
	index := l.Index
	if !ok {
		return nil, fmt.Errorf("heartbeat: kernel neighbours of %s: no such interface: %w", ifname, hakit.ErrConfig)
	}
	neighs, err := k.conn.Neigh.List()
	if err != nil {
		return nil, fmt.Errorf("heartbeat: kernel neighbours of %s: %w", ifname, err)
	}
	return usableNeighbours(neighs, index), nil
}

// usableNeighbours returns the addresses of the neighbours of interface
// index that are worth probing, sorted IPv4 first, without duplicates.
func usableNeighbours(neighs []rtnetlink.NeighMessage, index uint32) []netip.Addr {
	var out []netip.Addr
	for _, n := range neighs {
		if n.Index != index || n.State&usableStates == 0 || n.Attributes == nil {
			continue
		}
		if !hasAddress(n.Attributes.LLAddress) {
			continue
		}
		a, ok := netip.AddrFromSlice(n.Attributes.Address)
		if !ok {
			continue
		}
		a = a.Unmap()
		if a.IsUnspecified() || a.IsMulticast() || a.IsLoopback() || a == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
			continue
		}
		out = append(out, a)
	}
	slices.SortFunc(out, func(a, b netip.Addr) int {
		return cmp.Or(cmp.Compare(a.BitLen(), b.BitLen()), a.Compare(b))
	})
	return slices.Compact(out)
}

// hasAddress reports whether mac is a real link-layer address (not empty,
// not all zeroes).
func hasAddress(mac net.HardwareAddr) bool {
	for _, b := range mac {
		if b != 0 {
			return true
		}
	}
	return false
}

// Close releases the rtnetlink socket.
func (k *kernelNeighbours) Close() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.conn == nil {
		return nil
	}
	err := k.conn.Close()
	k.conn = nil
	return err
}

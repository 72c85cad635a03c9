package vmac

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
)

// The takeover toolbox: what a unit does to its own interfaces when it
// becomes (or stops being) the primary. Every call opens its own rtnetlink
// socket on the calling OS thread, so the calls work inside a network
// namespace entered with a locked thread (for example testbed.Host.Do); a
// Handle's Release opens a new socket in the same way, so call it in the same
// namespace as the call that returned the Handle.

var (
	// ErrNoInterface means the named interface does not exist.
	ErrNoInterface = errors.New("no such interface")

	// ErrNoSubnet means a virtual IP address given without a prefix length
	// is not inside any subnet already configured on the interface, so its
	// prefix length cannot be chosen safely.
	ErrNoSubnet = errors.New("address is not on any subnet of the interface")

	// ErrInvalid marks a bad argument: an invalid or unsuitable address, MAC,
	// name or mode.
	ErrInvalid = errors.New("invalid argument")
)

// MacvlanMode is the mode of a macvlan child interface. The zero value is
// invalid.
type MacvlanMode int

// Macvlan modes, as in ip-link(8).
const (
	// MacvlanPrivate: the child cannot talk to other macvlan children of
	// the same parent, even through an external switch that hairpins.
	MacvlanPrivate MacvlanMode = iota + 1
	// MacvlanVEPA: traffic between children goes out through the parent to
	// the switch.
	MacvlanVEPA
	// MacvlanBridge: children of the same parent talk to each other
	// directly. This is what keepalived's use_vmac creates.
	MacvlanBridge
)

// String returns the ip-link(8) name of the mode.
func (m MacvlanMode) String() string {
	switch m {
	case MacvlanPrivate:
		return "private"
	case MacvlanVEPA:
		return "vepa"
	case MacvlanBridge:
		return "bridge"
	default:
		return fmt.Sprintf("MacvlanMode(%d)", int(m))
	}
}

// Handle undoes what one toolbox call applied, in reverse order. It undoes
// only what that call changed: an address that was already present, or a MAC
// that was already set, is left alone on Release.
type Handle struct {
	mu   sync.Mutex
	undo []func() error // in the order applied; Release runs them backwards
	done bool
}

// push records the undo step for one applied change.
func (h *Handle) push(f func() error) { h.undo = append(h.undo, f) }

// Release undoes the changes in reverse order. It runs every undo step even
// when one fails and returns the errors joined. Calling Release again is a
// no-op returning nil. A nil *Handle is valid and releases nothing.
func (h *Handle) Release() error {
	if h == nil {
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.done {
		return nil
	}
	h.done = true
	var errs []error
	for i := len(h.undo) - 1; i >= 0; i-- {
		if err := h.undo[i](); err != nil {
			errs = append(errs, err)
		}
	}
	h.undo = nil
	return errors.Join(errs...)
}

// rollback releases h after a failed step and returns err, joined with any
// error the rollback itself met.
func (h *Handle) rollback(err error) error {
	if rerr := h.Release(); rerr != nil {
		return errors.Join(err, fmt.Errorf("vmac: rollback: %w", rerr))
	}
	return err
}

// SetMAC puts mac on the interface ifname. Release restores the address the
// interface had before. If the driver refuses to change the address of a
// running interface, the interface is taken down, changed and brought up
// again (note that taking an interface down removes its IPv6 addresses unless
// the keep_addr_on_down sysctl is set).
func SetMAC(ifname string, mac net.HardwareAddr) (*Handle, error) {
	if err := checkUnicastMAC(mac); err != nil {
		return nil, err
	}
	return setMAC(ifname, mac)
}

// AddMacvlan creates a macvlan child interface called name on parent,
// carrying mac, in the given mode, and brings it up (keepalived's use_vmac).
// Release deletes the child. A child with that name that already exists is an
// error.
//
// Put the virtual IP addresses on the child, and set arp_ignore=1 and
// arp_announce=2 on the parent (as keepalived does for use_vmac): otherwise
// the parent answers ARP for the child's addresses, or sends ARP requests
// with them as sender, with its own MAC, and neighbours learn the wrong MAC.
func AddMacvlan(parent, name string, mac net.HardwareAddr, mode MacvlanMode) (*Handle, error) {
	if err := checkUnicastMAC(mac); err != nil {
		return nil, err
	}
	if mode < MacvlanPrivate || mode > MacvlanBridge {
		return nil, fmt.Errorf("vmac: macvlan mode %v: %w", mode, ErrInvalid)
	}
	if err := checkIfname(name); err != nil {
		return nil, err
	}
	return addMacvlan(parent, name, mac, mode)
}

// RemoveMacvlan deletes the macvlan interface called name, for example one
// left behind by a unit that crashed while primary. An interface that does
// not exist is not an error; one that exists but is not a macvlan is refused
// with ErrInvalid and left alone.
func RemoveMacvlan(name string) error {
	if err := checkIfname(name); err != nil {
		return err
	}
	return removeMacvlan(name)
}

// AddVIPs adds virtual IP addresses (IPv4 and IPv6) to the interface ifname.
// Each address must lie inside a subnet already configured on the interface
// (the most specific one wins) and gets that subnet's prefix length; an
// address on no subnet of the interface fails with ErrNoSubnet (use
// AddPrefixes to give the prefix length explicitly). IPv6 addresses are added
// with IFA_F_NODAD, so they are usable at once, never tentative.
//
// Adding an address that is already on the interface is not an error, and
// Release leaves such an address in place. If any address fails, the ones
// this call added are removed again before it returns.
func AddVIPs(ifname string, vips ...netip.Addr) (*Handle, error) {
	for _, a := range vips {
		if err := checkVIP(a); err != nil {
			return nil, err
		}
	}
	return addVIPs(ifname, vips, nil)
}

// AddPrefixes is AddVIPs with an explicit prefix length per address: each
// prefix's Addr is the virtual IP address (it is not masked) and its Bits the
// prefix length to configure, which need not match any existing subnet.
func AddPrefixes(ifname string, prefixes ...netip.Prefix) (*Handle, error) {
	for _, p := range prefixes {
		if !p.IsValid() {
			return nil, fmt.Errorf("vmac: prefix %v: %w", p, ErrInvalid)
		}
		if err := checkVIP(p.Addr()); err != nil {
			return nil, err
		}
		if err := checkHost(p); err != nil {
			return nil, err
		}
	}
	return addVIPs(ifname, nil, prefixes)
}

// RemoveVIPs removes virtual IP addresses from the interface ifname, whatever
// their prefix length. Removing an address that is not there is not an error.
func RemoveVIPs(ifname string, vips ...netip.Addr) error {
	for _, a := range vips {
		if err := checkVIP(a); err != nil {
			return err
		}
	}
	return removeVIPs(ifname, vips)
}

// checkUnicastMAC accepts a 6-byte unicast MAC that is not all zeros.
func checkUnicastMAC(mac net.HardwareAddr) error {
	if len(mac) != 6 || mac[0]&1 != 0 || isZero(mac) {
		return fmt.Errorf("vmac: MAC %q must be a 6-byte, non-zero unicast address: %w", mac, ErrInvalid)
	}
	return nil
}

// checkVIP accepts a valid unicast address that is not loopback, link-local,
// multicast or unspecified; an IPv4-mapped IPv6 address is refused too.
func checkVIP(a netip.Addr) error {
	switch {
	case !a.IsValid(), a.IsUnspecified(), a.IsLoopback(), a.IsMulticast(),
		a.IsLinkLocalUnicast(), a.Is4In6(), a.Zone() != "":
		return fmt.Errorf("vmac: virtual IP %v: %w", a, ErrInvalid)
	case a.Is4() && a == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return fmt.Errorf("vmac: virtual IP %v: %w", a, ErrInvalid)
	}
	return nil
}

// checkHost refuses an IPv4 address that is the network or broadcast
// address of its own prefix (p.Bits() below 31): no host may use those.
func checkHost(p netip.Prefix) error {
	a := p.Addr()
	if !a.Is4() || p.Bits() >= 31 {
		return nil
	}
	b := a.As4()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	host := ^uint32(0) >> p.Bits()
	if v&host == 0 || v&host == host {
		return fmt.Errorf("vmac: virtual IP %v is the network or broadcast address of its subnet: %w", p, ErrInvalid)
	}
	return nil
}

// checkIfname accepts a Linux interface name: 1 to 15 bytes, no '/',
// whitespace or ':'.
func checkIfname(name string) error {
	if len(name) == 0 || len(name) > 15 || name == "." || name == ".." {
		return fmt.Errorf("vmac: interface name %q: %w", name, ErrInvalid)
	}
	for _, c := range []byte(name) {
		if c == '/' || c == ':' || c <= ' ' || c == 0x7f {
			return fmt.Errorf("vmac: interface name %q: %w", name, ErrInvalid)
		}
	}
	return nil
}

func isZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

//go:build linux

package vmac

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	"github.com/hakit/hakit/internal/link"

	"github.com/jsimonetti/rtnetlink/v2"
	"golang.org/x/sys/unix"
)

// Macvlan modes as the kernel numbers them (linux/if_link.h).
const (
	macvlanModePrivate = 1
	macvlanModeVEPA    = 2
	macvlanModeBridge  = 4
)

// withConn opens an rtnetlink socket in the calling thread's network
// namespace, runs f and closes the socket.
func withConn(f func(c *rtnetlink.Conn) error) error {
	c, err := rtnetlink.Dial(nil)
	if err != nil {
		return fmt.Errorf("vmac: open rtnetlink: %w", err)
	}
	defer c.Close()
	return f(c)
}

// linkByName finds the interface called name.
func linkByName(c *rtnetlink.Conn, name string) (rtnetlink.LinkMessage, error) {
	l, ok, err := link.ByName(c, name)
	switch {
	case err != nil:
		return l, fmt.Errorf("vmac: list interfaces: %w", err)
	case !ok:
		return l, fmt.Errorf("vmac: interface %q: %w", name, ErrNoInterface)
	}
	return l, nil
}

// linkByIndex finds the interface with index idx. (rtnetlink's Link.Get
// hides the kernel's ENODEV when there is none.)
func linkByIndex(c *rtnetlink.Conn, idx uint32) (rtnetlink.LinkMessage, error) {
	links, err := c.Link.List()
	if err != nil {
		return rtnetlink.LinkMessage{}, fmt.Errorf("vmac: list interfaces: %w", err)
	}
	for _, l := range links {
		if l.Index == idx {
			return l, nil
		}
	}
	return rtnetlink.LinkMessage{}, fmt.Errorf("vmac: interface index %d: %w", idx, ErrNoInterface)
}

// gone reports whether err says the interface or address no longer exists,
// which leaves nothing to undo.
func gone(err error) bool {
	return errors.Is(err, unix.ENODEV) || errors.Is(err, unix.EADDRNOTAVAIL) || errors.Is(err, ErrNoInterface)
}

// setLinkMAC changes the MAC of the interface with index idx. A driver that
// refuses while the interface is up (EBUSY) gets it down, changed and up.
func setLinkMAC(c *rtnetlink.Conn, idx uint32, up bool, mac net.HardwareAddr) error {
	set := func() error {
		return setAddress(c, &rtnetlink.LinkMessage{
			Family:     unix.AF_UNSPEC,
			Index:      idx,
			Attributes: &rtnetlink.LinkAttributes{Address: mac},
		})
	}
	err := set()
	if !errors.Is(err, unix.EBUSY) || !up {
		return err
	}
	if err := setLinkUp(c, idx, false); err != nil {
		return err
	}
	err = set()
	if uerr := setLinkUp(c, idx, true); uerr != nil {
		return errors.Join(err, uerr)
	}
	return err
}

// setAddress sends a link message that changes an interface's MAC. Tests
// replace it to emulate drivers that refuse to change a running interface.
var setAddress = func(c *rtnetlink.Conn, m *rtnetlink.LinkMessage) error { return c.Link.Set(m) }

// setLinkUp sets or clears IFF_UP on the interface with index idx.
func setLinkUp(c *rtnetlink.Conn, idx uint32, up bool) error {
	var flags uint32
	if up {
		flags = unix.IFF_UP
	}
	return c.Link.Set(&rtnetlink.LinkMessage{
		Family: unix.AF_UNSPEC,
		Index:  idx,
		Flags:  flags,
		Change: unix.IFF_UP,
	})
}

func setMAC(ifname string, mac net.HardwareAddr) (*Handle, error) {
	h := &Handle{}
	err := withConn(func(c *rtnetlink.Conn) error {
		l, err := linkByName(c, ifname)
		if err != nil {
			return err
		}
		orig := bytes.Clone(l.Attributes.Address)
		if len(orig) != len(mac) {
			return fmt.Errorf("vmac: interface %q has a %d-byte hardware address, not Ethernet: %w", ifname, len(orig), ErrInvalid)
		}
		if bytes.Equal(orig, mac) {
			return nil // already carries it: nothing to undo
		}
		up := l.Flags&unix.IFF_UP != 0
		if err := setLinkMAC(c, l.Index, up, mac); err != nil {
			return fmt.Errorf("vmac: set MAC %v on %q: %w", mac, ifname, err)
		}
		idx := l.Index
		h.push(func() error {
			return withConn(func(c *rtnetlink.Conn) error {
				l, err := linkByIndex(c, idx)
				if err != nil {
					if gone(err) {
						return nil
					}
					return fmt.Errorf("vmac: restore MAC on %q: %w", ifname, err)
				}
				up := l.Flags&unix.IFF_UP != 0
				if err := setLinkMAC(c, idx, up, orig); err != nil && !gone(err) {
					return fmt.Errorf("vmac: restore MAC %v on %q: %w", net.HardwareAddr(orig), ifname, err)
				}
				return nil
			})
		})
		return nil
	})
	if err != nil {
		return nil, h.rollback(err)
	}
	return h, nil
}

func addMacvlan(parent, name string, mac net.HardwareAddr, mode MacvlanMode) (*Handle, error) {
	var kmode uint32
	switch mode {
	case MacvlanPrivate:
		kmode = macvlanModePrivate
	case MacvlanVEPA:
		kmode = macvlanModeVEPA
	case MacvlanBridge:
		kmode = macvlanModeBridge
	}
	// IFLA_INFO_DATA holds one attribute, IFLA_MACVLAN_MODE (u32).
	data := make([]byte, 8)
	binary.NativeEndian.PutUint16(data[0:2], 8)
	binary.NativeEndian.PutUint16(data[2:4], unix.IFLA_MACVLAN_MODE)
	binary.NativeEndian.PutUint32(data[4:8], kmode)

	h := &Handle{}
	err := withConn(func(c *rtnetlink.Conn) error {
		p, err := linkByName(c, parent)
		if err != nil {
			return err
		}
		if _, err := linkByName(c, name); err == nil {
			return fmt.Errorf("vmac: macvlan %q: interface exists: %w", name, ErrInvalid)
		}
		err = c.Link.New(&rtnetlink.LinkMessage{
			Family: unix.AF_UNSPEC,
			Flags:  unix.IFF_UP,
			Change: unix.IFF_UP,
			Attributes: &rtnetlink.LinkAttributes{
				Name:    name,
				Type:    p.Index, // IFLA_LINK: the parent
				Address: mac,
				Info: &rtnetlink.LinkInfo{
					Kind: "macvlan",
					Data: &rtnetlink.LinkData{Name: "macvlan", Data: data},
				},
			},
		})
		if err != nil {
			return fmt.Errorf("vmac: create macvlan %q on %q: %w", name, parent, err)
		}
		l, err := linkByName(c, name)
		if err != nil {
			return err
		}
		idx := l.Index
		h.push(func() error {
			return withConn(func(c *rtnetlink.Conn) error {
				if err := c.Link.Delete(idx); err != nil && !gone(err) {
					return fmt.Errorf("vmac: delete macvlan %q: %w", name, err)
				}
				return nil
			})
		})
		if l.Flags&unix.IFF_UP == 0 {
			if err := setLinkUp(c, idx, true); err != nil {
				return fmt.Errorf("vmac: bring up macvlan %q: %w", name, err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, h.rollback(err)
	}
	return h, nil
}

func removeMacvlan(name string) error {
	return withConn(func(c *rtnetlink.Conn) error {
		l, err := linkByName(c, name)
		if errors.Is(err, ErrNoInterface) {
			return nil
		}
		if err != nil {
			return err
		}
		if l.Attributes.Info == nil || l.Attributes.Info.Kind != "macvlan" {
			return fmt.Errorf("vmac: remove %q: not a macvlan interface: %w", name, ErrInvalid)
		}
		if err := c.Link.Delete(l.Index); err != nil && !gone(err) {
			return fmt.Errorf("vmac: remove macvlan %q: %w", name, err)
		}
		return nil
	})
}

// ifaddr is one address configured on an interface.
type ifaddr struct {
	prefix netip.Prefix // the address, not masked, with its prefix length
	flags  uint32       // IFA_F_*
}

// listAddrs returns the addresses on the interface with index idx.
func listAddrs(c *rtnetlink.Conn, idx uint32) ([]ifaddr, error) {
	msgs, err := c.Address.List()
	if err != nil {
		return nil, fmt.Errorf("vmac: list addresses: %w", err)
	}
	var out []ifaddr
	for _, m := range msgs {
		if m.Index != idx || m.Attributes == nil {
			continue
		}
		ip := m.Attributes.Local // IPv4: the local address (IFA_ADDRESS is the peer on point-to-point links)
		if ip == nil {
			ip = m.Attributes.Address
		}
		a, ok := netip.AddrFromSlice(ip)
		if !ok {
			continue
		}
		if m.Family == unix.AF_INET {
			a = a.Unmap()
		}
		p, err := a.Prefix(int(m.PrefixLength))
		if err != nil {
			continue
		}
		flags := m.Attributes.Flags
		if flags == 0 {
			flags = uint32(m.Flags)
		}
		out = append(out, ifaddr{prefix: netip.PrefixFrom(a, p.Bits()), flags: flags})
	}
	return out, nil
}

// subnetFor returns a for the most specific subnet in have that contains it.
func subnetFor(have []ifaddr, a netip.Addr) (netip.Prefix, bool) {
	best := -1
	for _, h := range have {
		if h.prefix.Addr().Is4() != a.Is4() || !h.prefix.Masked().Contains(a) {
			continue
		}
		best = max(best, h.prefix.Bits())
	}
	if best < 0 {
		return netip.Prefix{}, false
	}
	return netip.PrefixFrom(a, best), true
}

// hasAddr reports whether a is among have, with any prefix length.
func hasAddr(have []ifaddr, a netip.Addr) bool {
	for _, h := range have {
		if h.prefix.Addr() == a {
			return true
		}
	}
	return false
}

// addrMessage builds the RTM_NEWADDR/RTM_DELADDR message for p on idx.
func addrMessage(idx uint32, p netip.Prefix) *rtnetlink.AddressMessage {
	a := p.Addr()
	m := &rtnetlink.AddressMessage{
		PrefixLength: uint8(p.Bits()),
		Index:        idx,
		Scope:        unix.RT_SCOPE_UNIVERSE,
		Attributes:   &rtnetlink.AddressAttributes{Address: net.IP(a.AsSlice())},
	}
	if a.Is4() {
		m.Family = unix.AF_INET
		m.Attributes.Local = net.IP(a.AsSlice())
		if p.Bits() < 31 {
			b := p.Masked().Addr().As4()
			host := ^uint32(0) >> p.Bits()
			binary.BigEndian.PutUint32(b[:], binary.BigEndian.Uint32(b[:])|host)
			m.Attributes.Broadcast = net.IP(b[:])
		}
	} else {
		m.Family = unix.AF_INET6
		m.Flags = unix.IFA_F_NODAD
		m.Attributes.Flags = unix.IFA_F_NODAD
	}
	return m
}

func addVIPs(ifname string, vips []netip.Addr, prefixes []netip.Prefix) (*Handle, error) {
	h := &Handle{}
	err := withConn(func(c *rtnetlink.Conn) error {
		l, err := linkByName(c, ifname)
		if err != nil {
			return err
		}
		have, err := listAddrs(c, l.Index)
		if err != nil {
			return err
		}
		want, err := prefixesFor(ifname, have, vips)
		if err != nil {
			return err
		}
		want = append(want, prefixes...)
		idx := l.Index
		// One undo step removes every address this call added, newest
		// first, over one socket.
		var added []netip.Prefix
		h.push(func() error {
			if len(added) == 0 {
				return nil
			}
			return withConn(func(c *rtnetlink.Conn) error {
				var errs []error
				for i := len(added) - 1; i >= 0; i-- {
					p := added[i]
					if err := c.Address.Delete(addrMessage(idx, p)); err != nil && !gone(err) {
						errs = append(errs, fmt.Errorf("vmac: remove %v from %q: %w", p, ifname, err))
					}
				}
				return errors.Join(errs...)
			})
		})
		for _, p := range want {
			if hasAddr(have, p.Addr()) {
				continue // already there: idempotent, and not ours to remove
			}
			err := c.Address.New(addrMessage(idx, p))
			if errors.Is(err, unix.EEXIST) {
				continue
			}
			if err != nil {
				return fmt.Errorf("vmac: add %v to %q: %w", p, ifname, err)
			}
			have = append(have, ifaddr{prefix: p})
			added = append(added, p)
		}
		return nil
	})
	if err != nil {
		return nil, h.rollback(err)
	}
	return h, nil
}

func removeVIPs(ifname string, vips []netip.Addr) error {
	return withConn(func(c *rtnetlink.Conn) error {
		l, err := linkByName(c, ifname)
		if err != nil {
			return err
		}
		have, err := listAddrs(c, l.Index)
		if err != nil {
			return err
		}
		var errs []error
		for _, a := range vips {
			for _, h := range have {
				if h.prefix.Addr() != a {
					continue
				}
				if err := c.Address.Delete(addrMessage(l.Index, h.prefix)); err != nil && !gone(err) {
					errs = append(errs, fmt.Errorf("vmac: remove %v from %q: %w", h.prefix, ifname, err))
				}
			}
		}
		return errors.Join(errs...)
	})
}

// resolveVIPs gives each address the prefix length of the subnet of ifname
// it lies in, without changing anything.
func resolveVIPs(ifname string, vips []netip.Addr) ([]netip.Prefix, error) {
	var out []netip.Prefix
	err := withConn(func(c *rtnetlink.Conn) error {
		l, err := linkByName(c, ifname)
		if err != nil {
			return err
		}
		have, err := listAddrs(c, l.Index)
		if err != nil {
			return err
		}
		out, err = prefixesFor(ifname, have, vips)
		return err
	})
	return out, err
}

// prefixesFor gives each address the prefix of the subnet in have (the
// addresses of ifname) it lies in, and refuses one that is the subnet's
// network or broadcast address.
func prefixesFor(ifname string, have []ifaddr, vips []netip.Addr) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(vips))
	for _, a := range vips {
		p, ok := subnetFor(have, a)
		if !ok {
			return nil, fmt.Errorf("vmac: virtual IP %v on %q: %w", a, ifname, ErrNoSubnet)
		}
		if err := checkHost(p); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// setSysctl writes value to /proc/sys/<key> (key slash-separated) and
// returns the step that writes the old value back. /proc/sys/net belongs to
// the network namespace of the thread that opens it.
func setSysctl(key, value string) (undo func() error, err error) {
	path := filepath.Join("/proc/sys", filepath.Clean("/"+key))
	old, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("vmac: sysctl %s: %w", key, err)
	}
	prev := strings.TrimSpace(string(old))
	if prev == value {
		return func() error { return nil }, nil
	}
	if err := os.WriteFile(path, []byte(value), 0); err != nil {
		return nil, fmt.Errorf("vmac: sysctl %s=%s: %w", key, value, err)
	}
	return func() error {
		if err := os.WriteFile(path, []byte(prev), 0); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("vmac: restore sysctl %s=%s: %w", key, prev, err)
		}
		return nil
	}, nil
}

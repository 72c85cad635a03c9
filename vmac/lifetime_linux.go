//go:build linux

package vmac

import (
	"encoding/binary"
	"fmt"
	"net/netip"

	"github.com/jsimonetti/rtnetlink/v2"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// setLifetime replaces (or creates) each address with IFA_CACHEINFO
// carrying the lifetime, which rtnetlink's AddressMessage does not encode.
func setLifetime(ifname string, secs uint32, prefixes []netip.Prefix) error {
	var idx uint32
	if err := withConn(func(c *rtnetlink.Conn) error {
		l, err := linkByName(c, ifname)
		idx = l.Index
		return err
	}); err != nil {
		return err
	}
	nl, err := netlink.Dial(unix.NETLINK_ROUTE, nil)
	if err != nil {
		return fmt.Errorf("vmac: open rtnetlink: %w", err)
	}
	defer nl.Close()
	ci := make([]byte, 16) // struct ifa_cacheinfo: preferred, valid, created, updated
	binary.NativeEndian.PutUint32(ci[0:], secs)
	binary.NativeEndian.PutUint32(ci[4:], secs)
	for _, p := range prefixes {
		b, err := addrMessage(idx, p).MarshalBinary()
		if err != nil {
			return fmt.Errorf("vmac: lifetime of %v on %q: %w", p, ifname, err)
		}
		ae := netlink.NewAttributeEncoder()
		ae.Bytes(unix.IFA_CACHEINFO, ci)
		attr, err := ae.Encode()
		if err != nil {
			return fmt.Errorf("vmac: lifetime of %v on %q: %w", p, ifname, err)
		}
		_, err = nl.Execute(netlink.Message{
			Header: netlink.Header{Type: unix.RTM_NEWADDR,
				Flags: netlink.Request | netlink.Acknowledge | netlink.Create | netlink.Replace},
			Data: append(b, attr...),
		})
		if err != nil {
			return fmt.Errorf("vmac: lifetime of %v on %q: %w", p, ifname, err)
		}
	}
	return nil
}

package member

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"

	"github.com/mdlayher/netlink"
	"github.com/mdlayher/packet"
	"golang.org/x/sys/unix"

	linklayer "github.com/hakit/hakit/internal/link"
)

// linuxBridge is a Linux bridge's two ports: their state is set over
// rtnetlink (IFLA_BRPORT_ISOLATED: two isolated ports forward nothing to
// each other, whatever their carrier does, unlike the port state that the
// kernel sets back to forwarding at a carrier change when STP is off), and
// the probes go through AF_PACKET sockets on the ports, which see the
// frames whatever the bridge does with them.
type linuxBridge struct {
	nl    *netlink.Conn
	br    *net.Interface
	ifis  [2]*net.Interface
	conns [2]*packet.Conn
	local net.HardwareAddr // the probes' destination, local to the bridge
}

// openBridge opens the ports of bridge and makes probeMAC one of the
// bridge's local addresses (a permanent entry of the bridge itself), so
// that a probe that comes back is delivered to the bridge, not forwarded.
func openBridge(bridge string, ports [2]string, probeMAC net.HardwareAddr) (_ bridgeOS, err error) {
	br, err := net.InterfaceByName(bridge)
	if err != nil {
		return nil, fmt.Errorf("member: bridge %s: %w", bridge, err)
	}
	b := &linuxBridge{br: br}
	defer func() {
		if err != nil {
			b.Close()
		}
	}()
	if b.nl, err = netlink.Dial(unix.NETLINK_ROUTE, nil); err != nil {
		return nil, fmt.Errorf("member: bridge %s: rtnetlink: %w", bridge, err)
	}
	for i, name := range ports {
		if b.ifis[i], err = net.InterfaceByName(name); err != nil {
			return nil, fmt.Errorf("member: bridge %s: %w", bridge, err)
		}
		if m, err := b.master(b.ifis[i].Index); err != nil || m != br.Index {
			return nil, errors.Join(fmt.Errorf("member: bridge %s: %s is not one of its ports", bridge, name), err)
		}
		if b.conns[i], err = linklayer.ListenBridgePort(b.ifis[i], LoopProbeEtherType); err != nil {
			return nil, fmt.Errorf("member: bridge %s: probes on %s: %w", bridge, name, err)
		}
	}
	if err := b.localEntry(unix.RTM_NEWNEIGH, probeMAC); err != nil {
		return nil, fmt.Errorf("member: bridge %s: adding the probes' address %s: %w", bridge, probeMAC, err)
	}
	b.local = probeMAC
	return b, nil
}

// localEntry adds (RTM_NEWNEIGH) or deletes (RTM_DELNEIGH) mac as a local
// address of the bridge.
func (b *linuxBridge) localEntry(op uint16, mac net.HardwareAddr) error {
	ae := netlink.NewAttributeEncoder()
	ae.Bytes(unix.NDA_LLADDR, mac)
	attrs, err := ae.Encode()
	if err != nil {
		return err
	}
	req := make([]byte, unix.SizeofNdMsg, unix.SizeofNdMsg+len(attrs))
	req[0] = unix.AF_BRIDGE
	binary.NativeEndian.PutUint32(req[4:], uint32(b.br.Index))
	binary.NativeEndian.PutUint16(req[8:], unix.NUD_PERMANENT)
	req[10] = unix.NTF_SELF
	flags := netlink.Request | netlink.Acknowledge
	if op == unix.RTM_NEWNEIGH {
		flags |= netlink.Create | netlink.Replace
	}
	_, err = b.nl.Execute(netlink.Message{Header: netlink.Header{Type: netlink.HeaderType(op), Flags: flags}, Data: append(req, attrs...)})
	return err
}

// master returns the index of the link's master (its bridge), 0 if none.
func (b *linuxBridge) master(index int) (int, error) {
	req := make([]byte, unix.SizeofIfInfomsg)
	binary.NativeEndian.PutUint32(req[4:], uint32(index))
	msgs, err := b.nl.Execute(netlink.Message{Header: netlink.Header{Type: unix.RTM_GETLINK, Flags: netlink.Request}, Data: req})
	if err != nil {
		return 0, err
	}
	for _, m := range msgs {
		if len(m.Data) < unix.SizeofIfInfomsg {
			continue
		}
		ad, err := netlink.NewAttributeDecoder(m.Data[unix.SizeofIfInfomsg:])
		if err != nil {
			return 0, err
		}
		for ad.Next() {
			if ad.Type() == unix.IFLA_MASTER {
				return int(ad.Uint32()), nil
			}
		}
	}
	return 0, nil
}

func (b *linuxBridge) macs() [2]net.HardwareAddr {
	return [2]net.HardwareAddr{b.ifis[0].HardwareAddr, b.ifis[1].HardwareAddr}
}

// setForwarding sets both ports' isolation and learning; blocking also
// flushes what the ports learnt, so that a later takeover starts from the
// switches' word, not from a stale table.
func (b *linuxBridge) setForwarding(on bool) error {
	var errs []error
	for _, ifi := range b.ifis {
		if err := b.setPort(ifi.Index, on); err != nil {
			errs = append(errs, fmt.Errorf("port %s: %w", ifi.Name, err))
		}
	}
	return errors.Join(errs...)
}

func (b *linuxBridge) setPort(index int, on bool) error {
	u8 := func(v bool) uint8 {
		if v {
			return 1
		}
		return 0
	}
	ae := netlink.NewAttributeEncoder()
	ae.Nested(unix.IFLA_PROTINFO, func(nae *netlink.AttributeEncoder) error {
		nae.Uint8(unix.IFLA_BRPORT_ISOLATED, u8(!on))
		nae.Uint8(unix.IFLA_BRPORT_LEARNING, u8(on))
		if !on {
			nae.Flag(unix.IFLA_BRPORT_FLUSH, true)
		}
		return nil
	})
	attrs, err := ae.Encode()
	if err != nil {
		return err
	}
	req := make([]byte, unix.SizeofIfInfomsg, unix.SizeofIfInfomsg+len(attrs))
	req[0] = unix.AF_BRIDGE
	binary.NativeEndian.PutUint32(req[4:], uint32(index))
	_, err = b.nl.Execute(netlink.Message{
		Header: netlink.Header{Type: unix.RTM_SETLINK, Flags: netlink.Request | netlink.Acknowledge},
		Data:   append(req, attrs...),
	})
	return err
}

func (b *linuxBridge) send(side int, frame []byte) error {
	_, err := b.conns[side].WriteTo(frame, &packet.Addr{HardwareAddr: net.HardwareAddr(frame[:6])})
	return err
}

// read reads one queued frame without waiting: 0 when none is queued.
func (b *linuxBridge) read(side int, buf []byte) (int, error) {
	rc, err := b.conns[side].SyscallConn()
	if err != nil {
		return 0, err
	}
	var n int
	var rerr error
	err = rc.Read(func(fd uintptr) bool {
		n, _, rerr = unix.Recvfrom(int(fd), buf, unix.MSG_DONTWAIT)
		return true
	})
	switch {
	case err != nil:
		return 0, err
	case errors.Is(rerr, unix.EAGAIN) || errors.Is(rerr, unix.EINTR):
		return 0, nil
	case rerr != nil:
		return 0, &net.OpError{Op: "read", Net: "packet", Err: rerr}
	}
	return n, nil
}

// fdb dumps the bridge's forwarding table: the MACs learnt on each port
// (not the ports' own, permanent ones, nor the ports' own lists).
func (b *linuxBridge) fdb() ([2][][6]byte, error) {
	var out [2][][6]byte
	req := make([]byte, unix.SizeofNdMsg)
	req[0] = unix.AF_BRIDGE
	msgs, err := b.nl.Execute(netlink.Message{Header: netlink.Header{Type: unix.RTM_GETNEIGH, Flags: netlink.Request | netlink.Dump}, Data: req})
	if err != nil {
		return out, err
	}
	for _, m := range msgs {
		if len(m.Data) < unix.SizeofNdMsg {
			continue
		}
		index := int(binary.NativeEndian.Uint32(m.Data[4:]))
		state := binary.NativeEndian.Uint16(m.Data[8:])
		flags := m.Data[10]
		side := -1
		for i, ifi := range b.ifis {
			if ifi.Index == index {
				side = i
			}
		}
		if side < 0 || flags&unix.NTF_SELF != 0 || state&unix.NUD_PERMANENT != 0 {
			continue
		}
		ad, err := netlink.NewAttributeDecoder(m.Data[unix.SizeofNdMsg:])
		if err != nil {
			continue
		}
		for ad.Next() {
			if ad.Type() != unix.NDA_LLADDR {
				continue
			}
			if mac, ok := mac6(ad.Bytes()); ok && mac[0]&1 == 0 {
				out[side] = append(out[side], mac)
			}
		}
	}
	return out, nil
}

func (b *linuxBridge) Close() error {
	var errs []error
	for _, c := range b.conns {
		if c != nil {
			errs = append(errs, c.Close())
		}
	}
	if b.local != nil {
		errs = append(errs, b.localEntry(unix.RTM_DELNEIGH, b.local))
	}
	if b.nl != nil {
		errs = append(errs, b.nl.Close())
	}
	return errors.Join(errs...)
}

package heartbeat

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"

	"github.com/hakit/hakit/internal/link"

	"github.com/hakit/hakit"

	"github.com/mdlayher/arp"
	"github.com/mdlayher/ethernet"
	"github.com/mdlayher/packet"
)

// NewPacketProber returns a Prober that sends ARP requests from mac and
// addr (an IPv4 address) on pc, a net.PacketConn carrying whole Ethernet
// frames (an AF_PACKET socket or a simulated segment port), and reports the
// ARP replies addressed to addr. Like a host's kernel, it also answers ARP
// requests for addr while ReadReply runs (or its handler is set), so that on a simulated segment the
// unit answers its peer's probes. It sends no neighbour solicitations:
// probing an IPv6 target returns an error. The Prober owns pc: Close closes
// it.
func NewPacketProber(pc net.PacketConn, mac net.HardwareAddr, addr netip.Addr) (Prober, error) {
	if len(mac) != 6 {
		return nil, fmt.Errorf("heartbeat: prober MAC %v is not 6 bytes: %w", mac, hakit.ErrConfig)
	}
	if !addr.Is4() {
		return nil, fmt.Errorf("heartbeat: prober address %v is not IPv4: %w", addr, hakit.ErrConfig)
	}
	return &packetProber{pc: pc, mac: mac, addr: addr}, nil
}

type packetProber struct {
	pc   net.PacketConn
	mac  net.HardwareAddr
	addr netip.Addr
	wmu  sync.Mutex
}

func (p *packetProber) Probe(target netip.Addr) error {
	if !target.Is4() {
		return fmt.Errorf("heartbeat: packet prober sends ARP only, not for %v: %w", target, hakit.ErrConfig)
	}
	return p.send(arp.OperationRequest, link.Broadcast, net.HardwareAddr{0, 0, 0, 0, 0, 0}, target)
}

func (p *packetProber) send(op arp.Operation, dst, targetHW net.HardwareAddr, target netip.Addr) error {
	fb, err := link.ARP(op, dst, p.mac, p.addr, targetHW, target)
	if err != nil {
		return fmt.Errorf("heartbeat: building ARP frame: %w", err)
	}
	p.wmu.Lock()
	defer p.wmu.Unlock()
	_, err = p.pc.WriteTo(fb, &packet.Addr{HardwareAddr: dst})
	return err
}

func (p *packetProber) ReadReply() (netip.Addr, error) {
	buf := make([]byte, 1514)
	for {
		n, _, err := p.pc.ReadFrom(buf)
		if err != nil {
			return netip.Addr{}, err
		}
		from, ok, err := p.handle(buf[:n])
		if err != nil {
			return netip.Addr{}, err
		}
		if ok {
			return from, nil
		}
	}
}

// handle answers an ARP request for the prober's address in frame b, and
// returns the sender of an ARP reply to it (ok true). err is set only when
// the conn is closed.
func (p *packetProber) handle(b []byte) (from netip.Addr, ok bool, err error) {
	var f ethernet.Frame
	if err := f.UnmarshalBinary(b); err != nil || f.EtherType != ethernet.EtherTypeARP {
		return netip.Addr{}, false, nil
	}
	var a arp.Packet
	if err := a.UnmarshalBinary(f.Payload); err != nil || a.TargetIP != p.addr {
		return netip.Addr{}, false, nil
	}
	switch a.Operation {
	case arp.OperationReply:
		return a.SenderIP, true, nil
	case arp.OperationRequest:
		if err := p.send(arp.OperationReply, a.SenderHardwareAddr, a.SenderHardwareAddr, a.SenderIP); err != nil && errors.Is(err, net.ErrClosed) {
			return netip.Addr{}, false, err
		}
	}
	return netip.Addr{}, false, nil
}

// SetHandler delivers the replies to h, and answers the requests, in the
// handler of pc when pc supports handlers (see CanPush); otherwise it does
// nothing.
func (p *packetProber) SetHandler(h func(from netip.Addr)) {
	if h == nil {
		link.SetHandler(p.pc, nil)
		return
	}
	link.SetHandler(p.pc, func(f []byte) {
		if from, ok, _ := p.handle(f); ok {
			h(from)
		}
	})
}

// CanPush reports whether pc supports handlers.
func (p *packetProber) CanPush() bool { return link.CanPush(p.pc) }

func (p *packetProber) Close() error { return p.pc.Close() }

package main

import (
	"fmt"
	"net"
	"net/netip"
	"slices"

	"github.com/mdlayher/packet"

	"github.com/hakit/hakit/election/member"
	"github.com/hakit/hakit/garp"
	"github.com/hakit/hakit/statesync"
	"github.com/hakit/hakit/vmac"
)

// interfaces looks up the configured interfaces (they are the monitored
// ones) and plans the takeover on them.
func (d *daemon) interfaces() (map[string]*net.Interface, error) {
	ifis := map[string]*net.Interface{}
	for _, name := range slices.Concat(d.cfg.Ifaces, d.cfg.vipIfaces(), d.cfg.bridgePorts()) {
		ifi, err := net.InterfaceByName(name)
		if err != nil {
			return nil, fmt.Errorf("%w: interface %s: %w", errConfig, name, err)
		}
		if ifis[name] == nil {
			d.monitored, ifis[name] = append(d.monitored, name), ifi
		}
	}
	return ifis, d.plan(ifis)
}

// plan derives the takeover (virtual MAC and addresses) and the
// announcements of every virtual-address interface.
func (d *daemon) plan(ifis map[string]*net.Interface) error {
	for i, name := range d.cfg.vipIfaces() {
		t := vmac.Takeover{Interface: name}
		mv := garp.Move{Interface: name, MAC: ifis[name].HardwareAddr}
		for _, v := range d.cfg.VIPs {
			if v.Iface == name {
				t.Prefixes, mv.Addrs = append(t.Prefixes, v.Prefix), append(mv.Addrs, v.Prefix.Addr())
			}
		}
		if d.cfg.VMAC != vmacOff {
			mac, err := d.cfg.virtualMAC(i)
			if err != nil {
				return fmt.Errorf("%w: virtual MAC: %w", errConfig, err)
			}
			t.MAC, mv.MAC = mac, mac
		}
		if d.cfg.VMAC == vmacMacvlan {
			t.Macvlan = fmt.Sprintf("hk%dv%d", d.cfg.ClusterID, i)
			mv.Interface = t.Macvlan
		}
		if len(mv.MAC) != 6 {
			return fmt.Errorf("%w: interface %s has no Ethernet address", errConfig, name)
		}
		d.takeovers, d.moves = append(d.takeovers, t), append(d.moves, mv)
	}
	return nil
}

// syncConfig opens the sync transport to the peers.
func (d *daemon) syncConfig() (*member.Sync, error) {
	s := &member.Sync{Table: d.table}
	if d.cfg.Conntrack {
		s.OnMerge = d.merged // merge.go
	}
	var err error
	if d.cfg.SyncIface != "" {
		var macs []net.HardwareAddr
		for _, p := range d.cfg.SyncPeers {
			macs = append(macs, p.MAC)
			s.Peers = append(s.Peers, statesync.Peer{Unit: p.Unit, Addr: &packet.Addr{HardwareAddr: p.MAC}})
		}
		var ifi *net.Interface
		if ifi, err = net.InterfaceByName(d.cfg.SyncIface); err == nil {
			s.Transport, err = statesync.ListenEthernet(ifi, 0, macs...)
			s.MTU = 1500
		}
	} else {
		var addrs []netip.AddrPort
		for _, p := range d.cfg.SyncPeers {
			addrs = append(addrs, p.Addr)
			s.Peers = append(s.Peers, statesync.Peer{Unit: p.Unit, Addr: net.UDPAddrFromAddrPort(p.Addr)})
		}
		s.Transport, err = statesync.ListenUDP(d.cfg.SyncListen, addrs...)
	}
	if err != nil {
		return nil, fmt.Errorf("sync transport: %w", err)
	}
	if len(s.Peers) == 1 && s.Peers[0].Unit == 0 {
		s.Peers = nil // the transport's only peer
	}
	return s, nil
}

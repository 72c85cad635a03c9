package main

// This file is what an appliance author writes: a custom announcer and
// the configuration of one cluster member. Everything else (heartbeats,
// the election, session sync both ways, the ordered takeover) is
// election/member's.

import (
	"context"
	"fmt"
	"net/netip"

	"github.com/hakit/hakit"
	"github.com/hakit/hakit/election/member"
	"github.com/hakit/hakit/garp"
	"github.com/hakit/hakit/heartbeat"
	"github.com/hakit/hakit/statesync"
)

// vip is the address the cluster serves. In a cloud, the announcer would
// move it (a route or a secondary address); here it says so.
var vip = netip.MustParseAddr("198.18.0.1")

// logAnnouncer is a custom garp.Announcer: where a cloud appliance calls
// its provider's API, it prints.
type logAnnouncer struct{ say func(string) }

func (a logAnnouncer) Announce(_ context.Context, m garp.Move) error {
	a.say(fmt.Sprintf("announce: %v is here now", m.Addrs))
	return nil
}

func (a logAnnouncer) Withdraw(_ context.Context, m garp.Move) error {
	a.say(fmt.Sprintf("withdraw: %v is no longer here", m.Addrs))
	return nil
}

// ports are where a unit and its peer listen for heartbeats and sync.
type ports struct{ heartbeat, peerHeartbeat, sync, peerSync netip.AddrPort }

// startUnit starts cluster member id: heartbeats and session sync over
// unicast UDP, authenticated with keys; becoming primary, it announces vip.
func startUnit(id uint16, p ports, keys *hakit.Keyring, say func(string), onEvent func(member.Event)) (*member.Driver, error) {
	hb, err := heartbeat.ListenUDP(p.heartbeat, p.peerHeartbeat)
	if err != nil {
		return nil, err
	}
	tr, err := statesync.ListenUDP(p.sync, p.peerSync)
	if err != nil {
		hb.Close()
		return nil, err
	}
	d, err := member.New(&member.Config{
		ClusterID: 7,
		UnitID:    id,
		Priority:  uint8(200 - id), // unit 1 is preferred
		Keys:      keys,
		// One heartbeat link, used only by the cluster: a fault on it does
		// not demote a unit.
		Interfaces: []member.Interface{{Name: "udp", Conn: hb, ClusterOnly: true}},
		Sync:       &member.Sync{Transport: tr},
		Steps:      []member.Step{member.Announce(logAnnouncer{say}, garp.Move{Interface: "udp", Addrs: []netip.Addr{vip}})},
		OnEvent:    onEvent,
	})
	if err != nil {
		return nil, err // New has closed hb and tr
	}
	return d, d.Start()
}

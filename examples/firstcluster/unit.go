//go:build ignore

// DESIGN (phase 1): this file is the part an appliance author writes; it
// compiles once member.Driver lands (phase 2), when the build tag goes.

package main

import (
	"context"
	"log/slog"
	"net/netip"

	"github.com/hakit/hakit"
	"github.com/hakit/hakit/election/member"
	"github.com/hakit/hakit/garp"
	"github.com/hakit/hakit/heartbeat"
	"github.com/hakit/hakit/statesync"
)

// vip is the address the cluster serves. In a cloud the announcer moves
// it (a route or a secondary address); here it only says so.
var vip = netip.MustParseAddr("198.18.0.1")

// logAnnouncer is a custom garp.Announcer: where a cloud appliance calls
// its provider's API to move the address, it logs.
type logAnnouncer struct{ log *slog.Logger }

func (a logAnnouncer) Announce(_ context.Context, m garp.Move) error {
	a.log.Info("announce: the address is here now", "addrs", m.Addrs)
	return nil
}

func (a logAnnouncer) Withdraw(_ context.Context, m garp.Move) error {
	a.log.Info("withdraw: the address is no longer here", "addrs", m.Addrs)
	return nil
}

// addrs is where one unit listens for heartbeats and session sync, and
// where its peer does.
type addrs struct {
	heartbeat, peerHeartbeat netip.AddrPort
	sync, peerSync           netip.AddrPort
}

// startUnit starts cluster member id: heartbeats and session sync over
// unicast UDP, authenticated with keys; the takeover announces vip.
func startUnit(id uint16, a addrs, keys *hakit.Keyring, onEvent func(member.Event), log *slog.Logger) (*member.Driver, error) {
	hb, err := heartbeat.ListenUDP(a.heartbeat, a.peerHeartbeat)
	if err != nil {
		return nil, err
	}
	tr, err := statesync.ListenUDP(a.sync, a.peerSync)
	if err != nil {
		hb.Close()
		return nil, err
	}
	d, err := member.New(&member.Config{
		ClusterID: 7,
		UnitID:    id,
		Priority:  uint8(200 - id), // unit 1 is preferred
		Keys:      keys,
		// One heartbeat link, used only by the cluster: a fault on it
		// does not demote a unit.
		Interfaces: []member.Interface{{Name: "udp", Conn: hb, ClusterOnly: true}},
		Sync:       &member.Sync{Peers: []member.SyncPeer{{Transport: tr}}},
		Steps:      []member.Step{member.Announce(logAnnouncer{log}, garp.Move{Interface: "udp", Addrs: []netip.Addr{vip}})},
		OnEvent:    onEvent,
		Logger:     log,
	})
	if err != nil {
		hb.Close()
		tr.Close()
		return nil, err
	}
	return d, d.Start()
}

package main

// This file is what an appliance author writes for a cloud pair: an
// announcer that moves the address through the provider's API with the
// fencing token, and the configuration of one cluster member with its
// witness. The rest is election/member's and election/witness's.

import (
	"context"
	"fmt"
	"net/netip"
	"sync"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/hakit/hakit"
	"github.com/hakit/hakit/election/member"
	"github.com/hakit/hakit/election/witness"
	"github.com/hakit/hakit/election/witness/etcd"
	"github.com/hakit/hakit/garp"
	"github.com/hakit/hakit/heartbeat"
)

// vip is the address the pair serves: in a cloud, a route's destination
// or a secondary address that moves between the units' interfaces.
var vip = netip.MustParseAddr("198.18.0.100")

// Cloud stands for the provider's API: one route whose target is the
// primary. Like a provider's conditional update (a version precondition, a
// condition expression, an If-Match on the record's etag), ReplaceRoute
// takes a write only if the caller's token is not older than the one the
// route was last written with; the same write again changes nothing.
type Cloud struct {
	mu     sync.Mutex
	target string
	token  uint64
	say    func(string)
}

// ReplaceRoute points the route at target on behalf of the holder of token.
func (c *Cloud) ReplaceRoute(_ context.Context, dst netip.Addr, target string, token uint64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case token < c.token:
		err := fmt.Errorf("refused: token %d is older than the route's %d", token, c.token)
		c.say(fmt.Sprintf("route %v -> %s (token %d): %v", dst, target, token, err))
		return err
	case token == c.token && target == c.target:
		return nil // announced again: nothing to do
	}
	c.target, c.token = target, token
	c.say(fmt.Sprintf("route %v -> %s (token %d)", dst, target, token))
	return nil
}

// routeAnnouncer is the unit's garp.Announcer: it points the route at this
// unit, with the fencing token member puts in every Move.
type routeAnnouncer struct {
	cloud *Cloud
	self  string // this unit's network interface in the cloud
}

func (r routeAnnouncer) Announce(ctx context.Context, m garp.Move) error {
	for _, a := range m.Addrs {
		if err := r.cloud.ReplaceRoute(ctx, a, r.self, m.Token); err != nil {
			return err
		}
	}
	return nil
}

func (r routeAnnouncer) Withdraw(context.Context, garp.Move) error {
	return nil // the next primary's Announce replaces the route
}

// startUnit starts cluster member id: heartbeats over unicast UDP (conn),
// a witness on the etcd key of cluster 7, and, becoming primary, the
// route moved with the fencing token.
func startUnit(id uint16, conn heartbeat.Conn, client *clientv3.Client, cloud *Cloud, keys *hakit.Keyring, onEvent func(member.Event)) (*member.Driver, *witness.Driver, error) {
	// etcd's shortest lease (2 s), for a quick demonstration; the default
	// is 5 s (nil).
	w, err := etcd.New(client, "/hakit/cluster-7/lease", id, &witness.Config{TTL: 2e9, Interval: 250e6, Margin: 500e6})
	if err != nil {
		conn.Close()
		return nil, nil, err
	}
	d, err := member.New(&member.Config{
		ClusterID:  7,
		UnitID:     id,
		Priority:   uint8(200 - id), // unit 1 is preferred
		Keys:       keys,
		Interfaces: []member.Interface{{Name: "udp", Conn: conn, ClusterOnly: true}},
		// Cut off from every peer, a unit may be primary only while it
		// holds the lease; every step runs with its token.
		Witness: w,
		Steps: []member.Step{member.Announce(routeAnnouncer{cloud, fmt.Sprintf("eni-unit%d", id)},
			garp.Move{Interface: "udp", Addrs: []netip.Addr{vip}})},
		OnEvent: onEvent,
	})
	if err != nil {
		w.Close()
		return nil, nil, err // New has closed conn
	}
	return d, w, d.Start()
}

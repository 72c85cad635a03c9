package etcd_test

import (
	"context"
	"fmt"
	"log"
	"net/netip"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/hakit/hakit"
	"github.com/hakit/hakit/election/member"
	"github.com/hakit/hakit/election/witness/etcd"
	"github.com/hakit/hakit/garp"
	"github.com/hakit/hakit/heartbeat"
	"github.com/hakit/hakit/statesync"
)

// The address of the etcd server and the unit's ID.
var (
	endpoints          = []string{"198.18.0.10:2379"}
	exampleUnit uint16 = 1
)

// Example opens the witness of unit 1 of cluster 7 (not run: it needs an
// etcd server).
func Example() {
	unit := exampleUnit
	client, _ := clientv3.New(clientv3.Config{Endpoints: endpoints, DialTimeout: 5 * time.Second})
	w, _ := etcd.New(client, "/hakit/cluster-7/lease", unit, nil) // a *witness.Driver
	defer w.Close()
}

// Example_lifecycle is the witness's life in a unit, as package
// election/witness describes it (not run: it needs an etcd server).
func Example_lifecycle() {
	unit, ctx := exampleUnit, context.Background()
	client, _ := clientv3.New(clientv3.Config{Endpoints: endpoints})
	w, _ := etcd.New(client, "/hakit/cluster-7/lease", unit, nil)
	defer w.Close()
	w.Acquire(ctx)  // when primary, or when cut off (below)
	s := w.Status() // on every election tick: s.Held, s.Token, s.Reason
	w.Release(ctx)  // when no longer primary
	fmt.Println(s.Held, s.Token)
}

// Example_short is the same, in the words of the README.
func Example_short() {
	unit, ctx := exampleUnit, context.Background()
	client, _ := clientv3.New(clientv3.Config{Endpoints: endpoints})
	w, _ := etcd.New(client, "/hakit/cluster-7/lease", unit, nil) // or kube.New(leases, "cluster-7", unit, nil)

	w.Acquire(ctx)  // while primary, or while cut off from the peer
	s := w.Status() // s.Held, s.Token (pass it with every Announcer call), s.Reason
	w.Release(ctx)  // on stepping down: the successor gets the lease at once
	fmt.Println(s.Held, s.Token)
}

// Example_member is a cloud member with its witness on etcd (not run: it
// needs an etcd server and the peer): heartbeats and sync over unicast
// UDP, the witness consulted only when the peer cannot be heard, and an
// announcer that moves the address with the fencing token.
func Example_member() {
	unit := exampleUnit
	client, _ := clientv3.New(clientv3.Config{Endpoints: endpoints, DialTimeout: 5 * time.Second})
	keys, _ := hakit.NewKeyring(hakit.Key{ID: 1, Secret: []byte("an example key, 32 bytes long!!!")})
	self, peer := netip.MustParseAddrPort("198.18.0.1:5405"), netip.MustParseAddrPort("198.18.0.2:5405")
	selfSync, peerSync := netip.MustParseAddrPort("198.18.0.1:5406"), netip.MustParseAddrPort("198.18.0.2:5406")
	hb, _ := heartbeat.ListenUDP(self, peer)
	tr, _ := statesync.ListenUDP(selfSync, peerSync)
	var routes garp.Announcer = &garp.Recorder{} // the provider's route API: see garp's Announcer example

	w, _ := etcd.New(client, "/hakit/cluster-7/lease", unit, nil)
	defer w.Close() // after the member's Close
	d, err := member.New(&member.Config{
		ClusterID:  7,
		UnitID:     unit,
		Keys:       keys,
		Interfaces: []member.Interface{{Name: "udp", Conn: hb, ClusterOnly: true}},
		Sync:       &member.Sync{Transport: tr},
		Witness:    w, // consulted only when no peer is heard
		Steps: []member.Step{member.Announce(routes, garp.Move{Interface: "eth0",
			Addrs: []netip.Addr{netip.MustParseAddr("198.18.0.100")}})}, // each call with Move.Token
	})
	if err != nil {
		log.Fatal(err)
	}
	defer d.Close()
	_ = d.Start()
	s := d.Status().Witness // s.Held, s.Token, s.CutOff, s.Verdict: what the unit does with it, in words
	fmt.Println(s.Verdict)
}

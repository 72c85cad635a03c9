package etcd_test

import (
	"context"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/hakit/hakit/election/witness/etcd"
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

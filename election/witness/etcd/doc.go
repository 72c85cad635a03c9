// Package etcd is a witness on etcd (go.etcd.io/etcd/client/v3): the lease
// of a cluster is one etcd key, which exists only while it is attached to
// the holding unit's etcd lease.
//
//	client, _ := clientv3.New(clientv3.Config{Endpoints: endpoints, DialTimeout: 5 * time.Second})
//	w, _ := etcd.New(client, "/hakit/cluster-7/lease", unit, nil) // a *witness.Driver
//	defer w.Close()
//
// See package election/witness for what the election does with the status.
//
// # How it works
//
// Each unit's Store has an etcd lease of the Driver's TTL. To acquire, it
// refreshes that lease and runs one transaction: if the key does not exist
// (its create revision is 0), put the unit's ID there attached to the
// lease; else read the key. The key is the unit's when it is attached to
// the unit's lease. To renew, the Store refreshes the lease (one
// LeaseKeepAlive round trip) and reads the key back; to release, it
// revokes the lease, which deletes the key at once. A unit that finds the
// key held by another watches it, and tries again the moment it is deleted
// (released, or its lease expired), so a free lease is taken within a round
// trip.
//
// Renewals are single keepalive round trips made by the Driver rather than
// the client's background KeepAlive stream: the Driver must know when each
// renewal the server confirmed was sent, because the server keeps the
// lease for at least the TTL from then; the stream reports only when
// answers arrive. The losses the stream would signal by closing are the
// Driver's: a keepalive answered "lease not found" (expired or revoked),
// the key gone or attached to another lease, and etcd unanswered until the
// bound (see "When Held turns false" in package election/witness).
//
// # The fencing token
//
// The token is the key's create revision: the etcd revision of the
// transaction that created it for this tenure. etcd's revision counts every
// change to the whole store, never decreases and survives restarts and
// compaction; the key is created anew for every tenure (it is deleted with
// the lease that holds it), so every holder's create revision is larger
// than every earlier holder's. The mod revision would change if anything
// rewrote the key during a tenure; the create revision names the tenure.
// Tokens start again only with a new etcd cluster or a restore from a
// snapshot taken before the last tenure (restore with etcdutl's
// --bump-revision to keep them increasing).
//
// # etcd going down
//
// A healthy pair keeps its roles (the election ignores the witness while
// the units hear each other); the holder reports Reachable false at its
// first unanswered call and Held false at the bound. When etcd comes back
// the holder's lease is still there (etcd extends every lease by its TTL
// when it starts): the unit that gave it up revokes it and takes the key
// anew, with a new, larger token.
//
// # Tests
//
// The tests run a real etcd server (go.etcd.io/etcd/server/v3/embed, the
// same release as the client) inside the test binary, on loopback, and put
// a TCP relay between each unit's client and the server to stop it or
// freeze a unit's connection.
package etcd

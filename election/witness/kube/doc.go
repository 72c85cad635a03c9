// Package kube is a witness on a Kubernetes Lease (coordination.k8s.io/v1,
// through k8s.io/client-go), for clusters whose units run where a
// Kubernetes API server is the natural arbiter.
//
//	leases := clientset.CoordinationV1().Leases("hakit")
//	w, _ := kube.New(leases, "cluster-7", unit, nil) // a *witness.Driver
//	defer w.Close()
//
// See package election/witness for what the election does with the status.
// The service account needs get, create and update on leases in the
// namespace.
//
// Tested that far only: the tests run against client-go's fake clientset
// (k8s.io/client-go/kubernetes/fake), with the API server's
// resourceVersion and optimistic concurrency imitated by the test, since
// no API server can run where they are built. They check the protocol,
// the exclusion and the timing exactly (in a testing/synctest bubble),
// not the behaviour of a real API server under load or across its own
// failovers.
//
// # How it works
//
// The Lease's holderIdentity is the holding unit's ID in decimal,
// leaseDurationSeconds the Driver's TTL. A unit takes the Lease when it is
// absent (create), released (no holder), or expired, by an update
// conditional on the resourceVersion it read, so of two units taking it at
// once one gets a conflict. A holder renews by writing renewTime;
// releasing clears holderIdentity. The API server expires nothing: a
// contending unit judges another holder's Lease by its own clock, never by
// the timestamps in it (the machines' clocks differ), as client-go's leader
// election does: the Lease is expired once its resourceVersion has not
// changed for its leaseDurationSeconds since this unit first saw that
// version. The holder's last renewal was written before that, so the
// holder gave it up (at its Until) at least the margin before another
// unit can take it.
//
// # The fencing token
//
// The token is leaseTransitions, incremented by every unit that takes the
// Lease, including a unit taking it again after its own tenure ended
// (client-go's leader election increments it only when the holder
// changes): it is an integer by contract, stable for a tenure, and larger
// for every later tenure. The resourceVersion is not used: the API
// defines it as opaque, not to be compared for order, and it changes with
// every renewal. Do not delete the Lease: that restarts leaseTransitions,
// and with it the tokens, so that a stale holder's writes would win again.
package kube

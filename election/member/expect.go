package member

import "github.com/hakit/hakit/statesync"

// UpsertExpect stores e, a connection a conntrack helper expects, in the
// session table and, on the primary, replicates it to every peer (see
// statesync.Expectation); it reports false when the table refused it
// (full) or without session sync. With it, the Driver is a
// conntrack.ExpectSink as well as a conntrack.Sink.
func (d *Driver) UpsertExpect(e statesync.Expectation) bool {
	if d.sync == nil {
		return false
	}
	return d.sync.UpsertExpect(e)
}

// DeleteExpect removes the expectation with key k from the table and, on
// the primary, replicates the deletion to every peer.
func (d *Driver) DeleteExpect(k statesync.Key) (statesync.Expectation, bool) {
	if d.sync == nil {
		return statesync.Expectation{}, false
	}
	return d.sync.DeleteExpect(k)
}

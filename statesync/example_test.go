package statesync_test

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/hakit/hakit"
	"github.com/hakit/hakit/statesync"
)

// The pure cores over an in-memory link: a sender replicates its table to
// a receiver, which then commits and takes over.
func Example() {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	primary, standby := statesync.NewTable(0), statesync.NewTable(0)
	keys, _ := hakit.NewKeyring(hakit.Key{ID: 1, Secret: []byte("shared sync key!")})
	s, _ := statesync.NewSender(now, &statesync.SenderConfig{Table: primary, Keys: keys})
	r, _ := statesync.NewReceiver(now, &statesync.ReceiverConfig{Table: standby, Keys: keys})

	// One round trip: sender's datagrams to the receiver, its acks back.
	exchange := func() {
		s.Tick(now)
		for _, b := range s.Output(nil) {
			r.Step(now, b)
		}
		now = now.Add(10 * time.Millisecond)
		r.Tick(now)
		for _, b := range r.Output(nil) {
			s.Step(now, b)
		}
	}

	sess := statesync.Session{
		Key: statesync.Key{Proto: 6,
			Src: netip.MustParseAddrPort("198.18.0.10:40000"),
			Dst: netip.MustParseAddrPort("198.19.0.80:443")},
		State:   statesync.TCPStateEstablished,
		Expires: statesync.Deadline(now.Add(time.Hour)),
	}
	s.Upsert(now, primary.Upsert(sess))
	exchange()
	fmt.Println("in sync:", r.InSync(), "acked:", s.Acked())

	// Failover: commit before bringing the addresses up.
	res := r.Commit(now)
	got, ok := standby.Get(sess.Key)
	fmt.Println("committed, lost:", res.Lost, "present:", ok, "version:", got.Version)
	// Output:
	// in sync: true acked: true
	// committed, lost: 0 present: true version: 1
}

// A schedule spreads sessions over active-active units.
func ExampleSchedule() {
	sched, _ := statesync.NewSchedule([]statesync.Unit{{ID: 1, Weight: 1}, {ID: 2, Weight: 1}})
	k := statesync.Key{Proto: 17,
		Src: netip.MustParseAddrPort("198.18.0.10:5353"),
		Dst: netip.MustParseAddrPort("198.19.0.53:53")}
	owner := sched.Owner(k)
	fmt.Println(owner == 1 || owner == 2)
	// Output: true
}

package statesync_test

import (
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/hakit/hakit"
	"github.com/hakit/hakit/internal/clock"
	"github.com/hakit/hakit/internal/simnet"
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

	var events []statesync.Event
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
		events = r.Events(s.Events(events)) // bulk syncs, in sync, resyncs
	}

	sess := statesync.Session{
		Key: statesync.Key{Proto: 6,
			Src: netip.MustParseAddrPort("198.18.0.10:40000"),
			Dst: netip.MustParseAddrPort("198.19.0.80:443")},
		State:   statesync.TCPStateEstablished,
		Expires: statesync.Deadline(now.Add(time.Hour)),
	}
	s.Upsert(now, primary.Upsert(sess))
	// With keys, the first exchange tells the sender the receiver's
	// nonce (the receiver drops a stream that does not echo it); the
	// second carries the stream that does.
	exchange()
	exchange()
	fmt.Println("in sync:", r.InSync(), "acked:", s.Acked())
	for _, e := range events {
		fmt.Println(e.Side, e.Kind)
	}

	// Failover: commit before bringing the addresses up.
	res := r.Commit(now)
	got, ok := standby.Get(sess.Key)
	fmt.Println("committed, lost:", res.Lost, "present:", ok, "version:", got.Version)
	// Output:
	// in sync: true acked: true
	// sender bulk-start
	// sender bulk-done
	// sender bulk-start
	// sender bulk-done
	// receiver bulk-start
	// receiver bulk-done
	// receiver in-sync
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

// Two Drivers over a simulated segment and clock: a replicates to b; at a
// failover b commits and starts sending, and a, demoted, mirrors b, on the
// same transports and tables. (The simulated segment and clock are hakit's
// test tools; a program uses ListenUDP or ListenEthernet, and the real
// clock.)
func ExampleDriver() {
	sim := clock.NewSim(time.Time{})
	seg := simnet.New(&simnet.Config{Clock: sim, Seed: 1})
	macA, macB := net.HardwareAddr{2, 0, 0, 0, 0, 0xa}, net.HardwareAddr{2, 0, 0, 0, 0, 0xb}
	keys, _ := hakit.NewKeyring(hakit.Key{ID: 1, Secret: []byte("shared sync key!")})
	session := func(port uint16) statesync.Session {
		return statesync.Session{Key: statesync.Key{Proto: 6,
			Src: netip.AddrPortFrom(netip.MustParseAddr("198.18.0.10"), port),
			Dst: netip.MustParseAddrPort("198.19.0.80:443")}, State: statesync.TCPStateEstablished}
	}
	newDriver := func(mac, peer net.HardwareAddr, primary bool) (*statesync.Driver, *statesync.Table) {
		tr := statesync.NewEthernetTransport(seg.Attach(mac.String(), mac), mac, peer, 0)
		tab := statesync.NewTable(0)
		d, _ := statesync.NewDriver(&statesync.DriverConfig{Transport: tr, Table: tab, Keys: keys,
			Send: primary, Receive: !primary, Clock: sim}) // primary: sends; standby: receives
		return d, tab
	}
	a, tabA := newDriver(macA, macB, true)
	b, tabB := newDriver(macB, macA, false)
	defer a.Close()
	defer b.Close()

	a.Upsert(session(40000)) // replicated, batched, acknowledged
	sim.RunFor(50 * time.Millisecond)
	fmt.Println("b in sync:", b.InSync(), "sessions:", tabB.Len())

	// b takes over: it commits before its addresses come up, then sends.
	res := b.Commit()
	_ = b.SetSending(true)
	_ = a.SetSending(false) // a is demoted: it mirrors b now
	_ = a.SetReceiving(true)
	b.Upsert(session(40001))
	sim.RunFor(50 * time.Millisecond)
	fmt.Println("committed in sync:", res.InSync, "a in sync:", a.InSync(), "sessions:", tabA.Len())
	// Output:
	// b in sync: true sessions: 1
	// committed in sync: true a in sync: true sessions: 2
}

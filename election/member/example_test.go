package member_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/netip"
	"time"

	"github.com/hakit/hakit"
	"github.com/hakit/hakit/election"
	"github.com/hakit/hakit/election/member"
	"github.com/hakit/hakit/garp"
	"github.com/hakit/hakit/heartbeat"
	"github.com/hakit/hakit/statesync"
)

// A unit alone takes the role after its initial wait and brings its steps
// up in order; the first attempt fails at the addresses and is rolled back
// and retried. Then a better peer appears and claims the role: the unit
// steps down and its steps go down in reverse.
func ExampleMachine() {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	start := now
	failures := 1
	step := func(name string) member.Step {
		return member.Func(name,
			func(context.Context) error {
				if name == "addresses" && failures > 0 {
					failures--
					return errors.New("device busy")
				}
				fmt.Println(now.Sub(start), name, "up")
				return nil
			},
			func(context.Context) error { fmt.Println(now.Sub(start), name, "down"); return nil })
	}
	ec := &election.Config{Unit: 2}
	m, _ := member.NewMachine(now, &member.MachineConfig{
		Election: ec,
		Links:    []member.Link{{Name: "eth0"}},
		Steps:    []member.Step{step("conntrack"), step("addresses"), step("announce")},
	})
	m.Links(now, 1)
	run := func() {
		out := m.Tick(now)
		for {
			for _, e := range out.Events {
				switch e.Kind {
				case member.EventRoleChange, member.EventStepFailed, member.EventRolledBack:
					fmt.Println(now.Sub(start), e)
				}
			}
			if out.Run == nil {
				return
			}
			_ = m.Done(now, *out.Run, out.Run.Run(context.Background()))
			out = m.Tick(now)
		}
	}
	for now.Sub(start) < time.Second {
		now = now.Add(100 * time.Millisecond)
		run()
	}

	// Unit 1 appears, primary already (a partition heals): the split
	// brain goes to the older unit, once its claim is heard in a second
	// heartbeat round.
	peer := election.Candidate{Unit: 1, Role: hakit.Primary, Priority: 200, Monitored: 1,
		InSync: true, Age: time.Hour, Tenure: time.Hour}
	b, _ := peer.MarshalBinary()
	m.Report(now, heartbeat.Report{Peer: 1, Interface: "eth0", State: heartbeat.Alive})
	_ = m.Payload(now, 1, b)
	run()
	now = now.Add(100 * time.Millisecond)
	_ = m.Payload(now, 1, b)
	run()
	// Output:
	// 800ms role change: initial -> primary (no primary: unit 2 selected: only candidate)
	// 800ms conntrack up
	// 800ms step failed: addresses: device busy (taking down conntrack, then trying again)
	// 800ms conntrack down
	// 800ms rolled back (took down conntrack)
	// 900ms conntrack up
	// 900ms addresses up
	// 900ms announce up
	// 1.1s role change: primary -> secondary (split brain: unit 1 selected: older by more than the 2s margin, 1h0m0s > 1s)
	// 1.1s announce down
	// 1.1s addresses down
	// 1.1s conntrack down
}

// The caller's loop around a Machine, as the Driver runs it.
func Example_loop() {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ctx := context.Background()
	ec := &election.Config{Unit: 1}
	links := []member.Link{{Name: "eth0"}}
	steps := []member.Step{member.Func("addresses", nil, nil)}
	report := heartbeat.Report{Peer: 2, Interface: "eth0", State: heartbeat.Alive}
	peer := uint16(2)
	payload, _ := (&election.Candidate{Unit: 2, Role: hakit.Secondary}).MarshalBinary()

	m, err := member.NewMachine(now, &member.MachineConfig{Election: ec, Links: links, Steps: steps})
	if err != nil {
		return
	}
	m.Report(now, report)             // each heartbeat report
	_ = m.Payload(now, peer, payload) // each accepted heartbeat's payload
	m.Links(now, 1)                   // monitored interfaces up
	m.Sync(now, true)                 // session table in sync
	out := m.Tick(now)                // at m.Next() and after every input
	// out.Payload and out.Role into the heartbeats (at once if out.Send)
	for out.Run != nil {
		err := out.Run.Run(ctx) // one step's Up, Down or Reannounce
		_ = m.Done(now, *out.Run, err)
		out = m.Tick(now)
	}
	fmt.Println(out.Role, m.Peers(now)[0].Unit)
	// Output: initial 2
}

// A cluster member over unicast UDP (a cloud: no ARP, no multicast) whose
// takeover announces the address with the caller's own garp.Announcer.
// (Compiled, not run: it needs its peer.)
func ExampleDriver() {
	var announcer garp.Announcer = &garp.Recorder{} // a cloud's route update
	keys, _ := hakit.NewKeyring(hakit.Key{ID: 1, Secret: []byte("an example key, 32 bytes long!!!")})
	hb, _ := heartbeat.ListenUDP(netip.MustParseAddrPort("198.18.0.1:7000"), netip.MustParseAddrPort("198.18.0.2:7000"))
	tr, _ := statesync.ListenUDP(netip.MustParseAddrPort("198.18.0.1:7001"), netip.MustParseAddrPort("198.18.0.2:7001"))

	d, err := member.New(&member.Config{
		ClusterID:  7,
		UnitID:     1,
		Keys:       keys,
		Interfaces: []member.Interface{{Name: "udp", Conn: hb, ClusterOnly: true}},
		Sync:       &member.Sync{Transport: tr},
		Steps: []member.Step{member.Announce(announcer, garp.Move{Interface: "eth0",
			Addrs: []netip.Addr{netip.MustParseAddr("198.18.0.100")}})},
		OnEvent: func(e member.Event) { log.Println(e) },
	})
	if err != nil {
		log.Fatal(err)
	}
	defer d.Close()                      // no handover: the peer takes over when it notices
	_ = d.Start()                        // heartbeats, election, session sync
	d.Upsert(statesync.Session{})        // a session: stored, replicated while primary
	_ = d.Status()                       // role and why, peers, sync, steps held, counters
	_ = d.Handover(context.Background()) // planned: the peer takes the role first
}

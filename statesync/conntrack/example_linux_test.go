package conntrack_test

import (
	"context"
	"fmt"
	"log"
	"net/netip"
	"time"

	ct "github.com/ti-mo/conntrack"

	"github.com/hakit/hakit/statesync"
	"github.com/hakit/hakit/statesync/conntrack"
)

// A flow as the kernel reports it (a dump or an event) becomes a session:
// the translated reply tuple is the NAT mapping, the timeout a deadline.
func ExampleFlowToSession() {
	now := time.Unix(1_800_000_000, 0)
	f := ct.NewFlow(6, ct.StatusConfirmed|ct.StatusAssured|ct.StatusSeenReply|ct.StatusSrcNAT,
		netip.MustParseAddr("198.18.1.10"), netip.MustParseAddr("198.18.2.10"), 40000, 443, 300, 0)
	f.TupleReply.IP.DestinationAddress = netip.MustParseAddr("198.18.2.1") // source NAT
	f.TupleReply.Proto.DestinationPort = 61000
	f.ProtoInfo.TCP = &ct.ProtoInfoTCP{State: statesync.TCPStateEstablished}

	s, err := conntrack.FlowToSession(f, now)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(s.Key.Src, "->", s.Key.Dst, "state", s.State)
	fmt.Println("NAT:", s.NAT(), "reply", s.ReplySrc, "->", s.ReplyDst)
	fmt.Println("expires in", s.ExpiresAt().Sub(now))
	// Output:
	// 198.18.1.10:40000 -> 198.18.2.10:443 state 3
	// NAT: true reply 198.18.2.10:443 -> 198.18.2.1:61000
	// expires in 5m0s
}

// A replicated session becomes the flow that creates it in the standby's
// kernel: the time left as the timeout, the creatable status bits, and
// TCP window tracking relaxed.
func ExampleSessionToFlow() {
	now := time.Unix(1_800_000_000, 0)
	s := statesync.Session{
		Key:     statesync.Key{Proto: 6, Src: netip.MustParseAddrPort("198.18.1.10:40000"), Dst: netip.MustParseAddrPort("198.18.2.10:443")},
		State:   statesync.TCPStateEstablished,
		Status:  uint32(ct.StatusConfirmed | ct.StatusAssured | ct.StatusSeenReply | ct.StatusSrcNATDone),
		Expires: statesync.Deadline(now.Add(299500 * time.Millisecond)),
	}
	f, err := conntrack.SessionToFlow(s, now, 5*24*time.Hour)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(f.TupleOrig.IP.SourceAddress, "->", f.TupleOrig.IP.DestinationAddress, "timeout", f.Timeout)
	fmt.Printf("status %#x, TCP flags %#04x\n", uint32(f.Status), f.ProtoInfo.TCP.OriginalFlags)
	// Output:
	// 198.18.1.10 -> 198.18.2.10 timeout 300
	// status 0xe, TCP flags 0x0808
}

// The active unit mirrors the kernel's table into the sync Driver's table:
// every change is stored and replicated. It needs CAP_NET_ADMIN and a
// kernel with conntrack, so it is compiled, not run.
func ExampleDialFollower() {
	ctx := context.Background()
	table := statesync.NewTable(0)
	tr, _ := statesync.ListenUDP(netip.MustParseAddrPort("198.18.3.1:7946"), netip.MustParseAddrPort("198.18.3.2:7946"))
	driver, _ := statesync.NewDriver(&statesync.DriverConfig{Transport: tr, Table: table, Send: true})
	ownAddrs := []netip.Prefix{netip.MustParsePrefix("198.18.3.0/24")} // sessions of the units themselves stay

	f, err := conntrack.DialFollower(table, &conntrack.Config{Sink: driver,
		Rules: &conntrack.Rules{IgnoreAddrs: ownAddrs}})
	if err != nil {
		log.Fatal(err)
	}
	err = f.Run(ctx) // until ctx is done or the kernel's event stream breaks
	log.Print(err)
}

// The standby injects the replicated table into its kernel at takeover,
// before its addresses come up. It needs CAP_NET_ADMIN and a kernel with
// conntrack, so it is compiled, not run.
func ExampleDialInjector() {
	table := statesync.NewTable(0)
	tr, _ := statesync.ListenUDP(netip.MustParseAddrPort("198.18.3.2:7946"), netip.MustParseAddrPort("198.18.3.1:7946"))
	sync, _ := statesync.NewDriver(&statesync.DriverConfig{Transport: tr, Table: table, Receive: true})
	inj, err := conntrack.DialInjector(nil) // at start, so that a takeover does not wait
	if err != nil {
		log.Fatal(err)
	}

	res := sync.Commit()                    // everything received is in the table
	n, err := inj.Commit(time.Now(), table) // creates, or updates, every session
	log.Print(res.InSync, n, err)           // then the addresses come up
}

// A warm standby writes the replica into its kernel as it changes, so that
// its takeover writes only the last moments, whatever the table's size.
// It needs CAP_NET_ADMIN and a kernel with conntrack, so it is compiled,
// not run.
func ExampleInjector_Follow() {
	ctx := context.Background()
	table := statesync.NewTable(0)
	tr, _ := statesync.ListenUDP(netip.MustParseAddrPort("198.18.3.2:7946"), netip.MustParseAddrPort("198.18.3.1:7946"))
	d, _ := statesync.NewDriver(&statesync.DriverConfig{Transport: tr, Table: table, Receive: true})
	now := time.Now()

	inj, _ := conntrack.DialInjector(nil)
	go inj.Follow(ctx, table) // the replica goes into the kernel as it changes
	// … the election makes this unit primary:
	res := d.Commit()                // every record received is in the table
	n, err := inj.Commit(now, table) // the last moments' changes; then the addresses
	log.Print(res.InSync, n, err)
}

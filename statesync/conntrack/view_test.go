package conntrack_test

import (
	"fmt"
	"net/netip"
	"os"
	"time"

	"github.com/hakit/hakit/statesync"
	"github.com/hakit/hakit/statesync/conntrack"
)

// An operator's view of a replica: counts, and a dump in conntrack -L's
// format.
func ExampleWriteTable() {
	now := time.Unix(1_800_000_000, 0)
	t := statesync.NewTable(0)
	t.Store(statesync.Session{
		Key:      statesync.Key{Proto: 6, Src: netip.MustParseAddrPort("198.18.1.10:40000"), Dst: netip.MustParseAddrPort("198.18.2.10:443")},
		ReplySrc: netip.MustParseAddrPort("198.18.2.10:443"), ReplyDst: netip.MustParseAddrPort("198.18.2.1:61000"),
		State: statesync.TCPStateEstablished, Status: 0x18e, Expires: statesync.Deadline(now.Add(300 * time.Second)),
	})
	t.Store(statesync.Session{
		Key:     statesync.Key{Proto: 1, Src: netip.MustParseAddrPort("198.18.1.10:4660"), Dst: netip.MustParseAddrPort("198.18.2.10:2048")},
		Expires: statesync.Deadline(now.Add(-time.Second)),
	})
	t.Store(statesync.Session{
		Key:   statesync.Key{Proto: 6, Src: netip.MustParseAddrPort("198.18.1.10:40001"), Dst: netip.MustParseAddrPort("198.18.2.10:21")},
		State: statesync.TCPStateEstablished, Status: 0x0e, Helper: "ftp",
	})
	c := conntrack.Count(t, now)
	fmt.Printf("%d sessions, %d TCP established, %d NAT, %d overdue\n", c.Sessions, c.TCP[statesync.TCPStateEstablished], c.NAT, c.Overdue)
	if err := conntrack.WriteTable(os.Stdout, t, now); err != nil {
		fmt.Println(err)
	}
	// Unordered output:
	// 3 sessions, 2 TCP established, 1 NAT, 1 overdue
	// tcp     6 300 ESTABLISHED src=198.18.1.10 dst=198.18.2.10 sport=40000 dport=443 src=198.18.2.10 dst=198.18.2.1 sport=443 dport=61000 [ASSURED] mark=0 zone=0
	// tcp     6 - ESTABLISHED src=198.18.1.10 dst=198.18.2.10 sport=40001 dport=21 src=198.18.2.10 dst=198.18.1.10 sport=21 dport=40001 [ASSURED] mark=0 zone=0 helper=ftp
	// icmp    1 0 src=198.18.1.10 dst=198.18.2.10 type=8 code=0 id=4660 [UNREPLIED] src=198.18.2.10 dst=198.18.1.10 type=0 code=0 id=4660 mark=0 zone=0
}

// Rules select what a Follower replicates, as conntrackd's Filter section:
// here TCP and UDP only, established TCP connections only, and nothing to
// or from the units' own addresses.
func ExampleRules() {
	r := &conntrack.Rules{
		Protocols:   []uint8{6, 17},
		TCPStates:   []uint8{statesync.TCPStateEstablished},
		IgnoreAddrs: []netip.Prefix{netip.MustParsePrefix("198.18.0.1/32"), netip.MustParsePrefix("198.18.0.2/32")},
	}
	key := func(proto uint8, src, dst string) statesync.Key {
		return statesync.Key{Proto: proto, Src: netip.MustParseAddrPort(src), Dst: netip.MustParseAddrPort(dst)}
	}
	for _, s := range []statesync.Session{
		{Key: key(6, "198.18.1.10:40000", "198.18.2.10:443"), State: statesync.TCPStateEstablished},
		{Key: key(6, "198.18.1.10:40001", "198.18.2.10:443"), State: statesync.TCPStateSynSent},
		{Key: key(17, "198.18.1.10:5000", "198.18.0.1:53")},
		{Key: key(1, "198.18.1.10:1", "198.18.2.10:2048")},
	} {
		fmt.Println(s.Key.Src, "->", s.Key.Dst, r.Match(&s))
	}
	// Output:
	// 198.18.1.10:40000 -> 198.18.2.10:443 true
	// 198.18.1.10:40001 -> 198.18.2.10:443 false
	// 198.18.1.10:5000 -> 198.18.0.1:53 false
	// 198.18.1.10:1 -> 198.18.2.10:2048 false
}

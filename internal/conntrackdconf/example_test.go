package conntrackdconf_test

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/hakit/hakit/internal/conntrackdconf"
)

func ExampleConfig() {
	c := conntrackdconf.Config{
		Self: netip.MustParseAddr("198.18.3.1"), Peer: netip.MustParseAddr("198.18.3.2"),
		Interface: "eth2", Dir: "/run/ha", Name: "conntrackd",
		Ignore: []netip.Addr{netip.MustParseAddr("198.18.3.1")},
	}
	c.HashSize, c.HashLimit = conntrackdconf.Sized(100_000)
	for _, line := range strings.Split(c.String(), "\n") {
		if strings.Contains(line, "Hash") || strings.Contains(line, "Address") || strings.Contains(line, "IPv4_address") || strings.Contains(line, "Path") {
			fmt.Println(strings.TrimSpace(line))
		}
	}
	// Output:
	// IPv4_address 198.18.3.1
	// IPv4_Destination_Address 198.18.3.2
	// HashSize 131072
	// HashLimit 400000
	// Path /run/ha/conntrackd.ctl
	// Address Ignore {
	// IPv4_address 198.18.3.1
}

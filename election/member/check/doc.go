// Package check holds the probes of the health checks that move a unit's
// role (member.Check): a script's exit status, a file's value, a running
// process, an interface's link, and a neighbour (the upstream gateway)
// answering ARP or neighbour solicitations on a given interface.
//
// Each probe is a func(ctx) error for member.Check.Probe: nil passed, an
// error says in words why not; every one returns when ctx ends.
//
//	gw, err := check.NewNeighbour(prober, netip.MustParseAddr("198.18.0.1"))
//	checks := []member.Check{
//		{Name: "haproxy", Probe: check.Script("/usr/local/bin/check-haproxy"), Weight: 20},
//		{Name: "gw-ping", Probe: gw.Probe, Fall: 3, Rise: 3}, // a fault: the unit is ineligible
//	}
package check

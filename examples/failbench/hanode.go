package main

import (
	"net/netip"
	"strconv"
	"time"
)

// hanodeExtra holds extra hanode flags from -hanode-args, appended last
// so that they override the defaults below.
var hanodeExtra []string

// hanodePath is the hanode binary from -hanode; empty: build it.
var hanodePath string

// hanodeActiveLine matches the log line hanode writes when the unit takes
// the primary role.
const hanodeActiveLine = `msg="member: role change" [^\n]*to=primary`

// hanodeArgs returns the command line of hanode for unit u: cluster 1, the
// heartbeat interval, u.ifname as the critical interface carrying the
// virtual address, no preemption (a restarted unit rejoins as the
// secondary), everything else hanode's defaults (2 misses, a 0.6 s
// probe window, the early verdict, the virtual MAC on the interface).
func hanodeArgs(u, _ unitConf, vip netip.Prefix, interval time.Duration) []string {
	args := []string{
		"-cluster-id", "1",
		"-unit-id", strconv.Itoa(u.id),
		"-priority", strconv.Itoa(u.priority),
		"-iface", u.ifname,
		"-vip", u.ifname + "=" + vip.String(),
		"-interval", interval.String(),
		"-status", "127.0.0.1:9100",
		"-insecure-no-auth", // as the other daemons run here
	}
	return append(args, hanodeExtra...)
}

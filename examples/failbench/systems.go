package main

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// unitConf is what a daemon's configuration needs to know of a unit.
type unitConf struct {
	name     string     // host name, also the router or unit name
	id       int        // unit ID (1, 2)
	ifname   string     // the interface carrying the VIP and the heartbeats
	addr     netip.Addr // the unit's own address on ifname
	priority int        // higher wins
	dir      string     // a directory of its own for config, pid and log files
}

// system is a failover daemon under test.
type system interface {
	// name is the name in flags and in the table.
	name() string
	// command returns the program and arguments that run the daemon of u
	// (whose peer is peer) in the foreground, the virtual address vip on
	// u.ifname, heartbeats (adverts) every interval. It may write files in
	// u.dir.
	command(u, peer unitConf, vip netip.Prefix, interval time.Duration) (string, []string, error)
	// becameActive matches a log line the daemon writes when it takes the
	// active role.
	becameActive() *regexp.Regexp
}

// keepalived runs keepalived with unicast VRRPv3.
type keepalived struct{}

func (keepalived) name() string { return "keepalived" }

func (keepalived) becameActive() *regexp.Regexp {
	return regexp.MustCompile(`Entering MASTER STATE`)
}

func (k keepalived) command(u, peer unitConf, vip netip.Prefix, interval time.Duration) (string, []string, error) {
	conf, err := keepalivedConf(u, peer, vip, interval)
	if err != nil {
		return "", nil, err
	}
	path := filepath.Join(u.dir, "keepalived.conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		return "", nil, fmt.Errorf("failbench: %w", err)
	}
	// keepalived refuses to start when its pid files name a live
	// process, and pids are reused: start from none.
	for _, f := range []string{"keepalived.pid", "vrrp.pid", "checkers.pid"} {
		_ = os.Remove(filepath.Join(u.dir, f))
	}
	return "keepalived", []string{
		"-n", "-l", "-D",
		"-f", path,
		"-p", filepath.Join(u.dir, "keepalived.pid"),
		"-r", filepath.Join(u.dir, "vrrp.pid"),
		"-c", filepath.Join(u.dir, "checkers.pid"),
	}, nil
}

// keepalivedConf returns the configuration of unit u: one VRRPv3 instance,
// unicast to peer, both units starting as BACKUP with keepalived's default
// priority 100 and nopreempt (a restarted unit rejoins as the backup),
// advert_int the interval (VRRPv3 counts it in centiseconds: 10 ms is its
// minimum). The backup takes over after 3 adverts missed plus the skew
// time, (256-100)/256 of an interval.
func keepalivedConf(u, peer unitConf, vip netip.Prefix, interval time.Duration) (string, error) {
	if interval < 10*time.Millisecond || interval%(10*time.Millisecond) != 0 {
		return "", fmt.Errorf("failbench: keepalived: advert interval %v is not a multiple of 10ms", interval)
	}
	if !u.addr.Is4() || !peer.addr.Is4() || !vip.Addr().Is4() {
		return "", fmt.Errorf("failbench: keepalived: IPv4 addresses only")
	}
	var b strings.Builder
	fmt.Fprintf(&b, `global_defs {
	router_id %s
	vrrp_version 3
	enable_script_security
	script_user root
}

vrrp_instance failbench {
	state BACKUP
	nopreempt
	interface %s
	virtual_router_id 51
	priority 100
	advert_int %s
	unicast_src_ip %s
	unicast_peer {
		%s
	}
	virtual_ipaddress {
		%s dev %s
	}
}
`, u.name, u.ifname,
		strconv.FormatFloat(interval.Seconds(), 'f', -1, 64),
		u.addr, peer.addr, vip, u.ifname)
	return b.String(), nil
}

// hakit runs the example daemon examples/hanode, built to bin.
type hakit struct {
	bin string
}

func (hakit) name() string { return "hakit" }

func (hakit) becameActive() *regexp.Regexp {
	return regexp.MustCompile(hanodeActiveLine)
}

func (h hakit) command(u, peer unitConf, vip netip.Prefix, interval time.Duration) (string, []string, error) {
	if h.bin == "" {
		return "", nil, fmt.Errorf("failbench: hakit: no hanode binary")
	}
	return h.bin, hanodeArgs(u, peer, vip, interval), nil
}

// buildHanode builds examples/hanode into dir and returns the binary's
// path, or why it could not.
func buildHanode(dir string) (string, error) {
	bin := filepath.Join(dir, "hanode")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/hakit/hakit/examples/hanode")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./examples/hanode: %v: %s", err, strings.TrimSpace(string(out)))
	}
	return bin, nil
}

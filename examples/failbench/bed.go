package main

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/hakit/hakit/internal/testbed"
)

// The addresses of the bed, all in 198.18.0.0/15.
var (
	clientPrefix = netip.MustParsePrefix("198.18.0.1/24")
	unitPrefixes = [2]netip.Prefix{
		netip.MustParsePrefix("198.18.0.2/24"),
		netip.MustParsePrefix("198.18.0.3/24"),
	}
	vipPrefix = netip.MustParsePrefix("198.18.0.100/24")
)

// echoPort is the UDP port the units answer probes on.
const echoPort = 7007

// unit is one of the two cluster units: a namespace cabled to the bridge,
// an echo responder bound to the virtual address, and the daemon under
// test when it runs.
type unit struct {
	conf unitConf
	host *testbed.Host
	link *testbed.Link
	mac  string // the MAC the host end was created with
	resp *responder
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
	log  string        // the current daemon's log file
}

// bench is the bed: a client and units A and B on one bridge, and the
// client's prober.
type bench struct {
	bed    *testbed.Bed
	br     *testbed.Bridge
	client *testbed.Host
	units  [2]*unit
	probe  *prober
	dir    string
}

// newBench builds the topology on bed, starts the responders and the
// prober (one probe every period), and keeps its files in dir.
func newBench(bed *testbed.Bed, dir string, period time.Duration) (*bench, error) {
	b := &bench{bed: bed, dir: dir}
	b.br = bed.Bridge("lan")
	b.client = bed.Host("client")
	bed.Link(b.client, b.br, "eth0")
	b.client.AddAddr("eth0", clientPrefix)
	for i, name := range []string{"a", "b"} {
		h := bed.Host(name)
		l := bed.Link(h, b.br, "eth0")
		h.AddAddr("eth0", unitPrefixes[i])
		// The responder binds to the virtual address before it holds it.
		h.Sysctl("net.ipv4.ip_nonlocal_bind", "1")
		udir := filepath.Join(dir, name)
		if err := os.MkdirAll(udir, 0o700); err != nil {
			return nil, fmt.Errorf("failbench: %w", err)
		}
		u := &unit{
			conf: unitConf{
				name: name, id: i + 1, ifname: "eth0",
				addr: unitPrefixes[i].Addr(), priority: 200 - 100*i,
				dir: udir,
			},
			host: h, link: l, mac: l.MAC().String(),
		}
		var conn *net.UDPConn
		if err := h.Do(func() (err error) {
			conn, err = listenUDP(netip.AddrPortFrom(vipPrefix.Addr(), echoPort))
			return err
		}); err != nil {
			return nil, err
		}
		u.resp = newResponder(conn, byte(u.conf.id))
		b.units[i] = u
	}
	var conn *net.UDPConn
	if err := b.client.Do(func() (err error) {
		conn, err = listenUDP(netip.AddrPortFrom(clientPrefix.Addr(), 0))
		return err
	}); err != nil {
		return nil, err
	}
	b.probe = newProber(conn, netip.AddrPortFrom(vipPrefix.Addr(), echoPort), period)
	return b, nil
}

// close stops the daemons, the prober and the responders; the caller
// closes the bed.
func (b *bench) close() {
	for _, u := range b.units {
		if u != nil {
			u.kill()
		}
	}
	if b.probe != nil {
		b.probe.close()
	}
	for _, u := range b.units {
		if u != nil && u.resp != nil {
			u.resp.close()
		}
	}
}

// start starts sys's daemon on u, logging to a fresh file.
func (b *bench) start(sys system, u *unit, interval time.Duration) error {
	peer := b.units[0]
	if u == peer {
		peer = b.units[1]
	}
	prog, args, err := sys.command(u.conf, peer.conf, vipPrefix, interval)
	if err != nil {
		return err
	}
	u.log = filepath.Join(u.conf.dir, fmt.Sprintf("%s-%s-%d.log", sys.name(), interval, time.Now().UnixNano()))
	f, err := os.Create(u.log)
	if err != nil {
		return fmt.Errorf("failbench: %w", err)
	}
	defer f.Close()
	cmd := u.host.Command(prog, args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("failbench: start %s on %s: %w", sys.name(), u.conf.name, err)
	}
	u.cmd = cmd
	u.done = make(chan struct{})
	go func(done chan struct{}) {
		_ = cmd.Wait()
		close(done)
	}(u.done)
	return nil
}

// kill kills u's daemon with SIGKILL: its process group and every other
// process left in u's namespace (daemons that fork), and waits for it.
func (u *unit) kill() {
	if u.cmd != nil {
		_ = syscall.Kill(-u.cmd.Process.Pid, syscall.SIGKILL)
	}
	if out, err := exec.Command("ip", "netns", "pids", u.host.Namespace()).Output(); err == nil {
		for _, f := range strings.Fields(string(out)) {
			if pid, err := strconv.Atoi(f); err == nil && pid != os.Getpid() {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	}
	if u.cmd != nil {
		<-u.done
		u.cmd = nil
	}
}

// exited reports whether u's daemon has exited on its own.
func (u *unit) exited() bool {
	if u.cmd == nil {
		return true
	}
	select {
	case <-u.done:
		return true
	default:
		return false
	}
}

// reset removes what a killed daemon left on u's interface: addresses
// other than the unit's own, a changed MAC, extra links (macvlans).
func (u *unit) reset() error {
	ns := u.host.Namespace()
	out, err := exec.Command("ip", "-n", ns, "-o", "link", "show").Output()
	if err != nil {
		return fmt.Errorf("failbench: %s: ip link: %w", u.conf.name, err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		name, _, _ := strings.Cut(strings.TrimSuffix(f[1], ":"), "@")
		if name != "lo" && name != u.conf.ifname {
			_ = exec.Command("ip", "-n", ns, "link", "del", name).Run()
		}
	}
	out, err = exec.Command("ip", "-n", ns, "-o", "link", "show", "dev", u.conf.ifname).Output()
	if err != nil {
		return fmt.Errorf("failbench: %s: ip link: %w", u.conf.name, err)
	}
	if !strings.Contains(string(out), "link/ether "+u.mac+" ") {
		if err := runCmd("ip", "-n", ns, "link", "set", u.conf.ifname, "address", u.mac); err != nil {
			return err
		}
	}
	if err := runCmd("ip", "-n", ns, "-4", "addr", "flush", "dev", u.conf.ifname); err != nil {
		return err
	}
	return runCmd("ip", "-n", ns, "addr", "add", netip.PrefixFrom(u.conf.addr, 24).String(), "dev", u.conf.ifname)
}

// holdsVIP reports whether u's interface carries the virtual address.
func (u *unit) holdsVIP() bool {
	out, err := exec.Command("ip", "-n", u.host.Namespace(), "-o", "-4", "addr", "show", "dev", u.conf.ifname).Output()
	return err == nil && bytes.Contains(out, []byte(" "+vipPrefix.Addr().String()+"/"))
}

func runCmd(name string, args ...string) error {
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		return fmt.Errorf("failbench: %s %s: %v: %s", name, strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

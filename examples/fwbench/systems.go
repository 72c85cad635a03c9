//go:build linux

package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"time"

	"github.com/hakit/hakit/internal/conntrackdconf"
)

// system is a failover daemon with session sync under test.
type system interface {
	name() string
	// start runs the daemons of u (whose peer is peer), the active unit
	// first.
	start(u, peer *unit, first bool, interval time.Duration) error
	// ready waits until u, the standby, holds n sessions replicated.
	ready(u *unit, n int, limit time.Duration) error
	// holds waits until u, the standby, holds the stream's session.
	holds(u *unit, client netip.AddrPort, limit time.Duration) error
}

// hanode is hakit's daemon with -conntrack: heartbeats on every
// interface, the virtual MAC on the interfaces, the sessions replicated
// over UDP on the sync link.
type hanode struct {
	bin   string
	extra []string
	warm  bool // the last ready saw the sessions in the standby's kernel
}

func (h *hanode) name() string {
	if h.warm {
		return "hakit (hanode, warm standby)"
	}
	return "hakit (hanode)"
}

const statusAddr = "127.0.0.1:9100"

func (h *hanode) start(u, peer *unit, first bool, interval time.Duration) error {
	priority := "100"
	if first {
		priority = "200"
	}
	args := append([]string{"-cluster-id", "7", "-unit-id", strconv.Itoa(u.n), "-priority", priority,
		"-vip", "eth0=" + gwClient.String(), "-vip", "eth1=" + gwServer.String(),
		"-iface", "eth0", "-iface", "eth1", "-iface", "eth2", "-interval", interval.String(),
		"-vmac", "interface", "-sync-peer", netip.AddrPortFrom(peer.syncAddr(), 7946).String(), "-conntrack",
		"-status", statusAddr, "-state-dir", u.dir, "-key-file", filepath.Join(u.dir, "hanode.key")}, h.extra...)
	// Both units share one key, as a real pair would: authenticated
	// heartbeats and sync cost what they cost in production.
	if err := os.WriteFile(filepath.Join(u.dir, "hanode.key"), []byte("fwbench shared key, 32 bytes ok\n"), 0o600); err != nil {
		return err
	}
	_, err := u.start(h.bin, args...)
	return err
}

// status reads the daemon's status JSON from inside u's namespace.
func status(u *unit) (map[string]any, error) {
	var c net.Conn
	if err := u.h.Do(func() error {
		var err error
		c, err = net.DialTimeout("tcp", statusAddr, time.Second)
		return err
	}); err != nil {
		return nil, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := io.WriteString(c, "GET / HTTP/1.0\r\n\r\n"); err != nil {
		return nil, err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var m map[string]any
	return m, json.NewDecoder(resp.Body).Decode(&m)
}

// find returns the first value of key in a decoded JSON document.
func find(v any, key string) (any, bool) {
	switch v := v.(type) {
	case map[string]any:
		if x, ok := v[key]; ok {
			return x, true
		}
		for _, x := range v {
			if r, ok := find(x, key); ok {
				return r, true
			}
		}
	case []any:
		for _, x := range v {
			if r, ok := find(x, key); ok {
				return r, true
			}
		}
	}
	return nil, false
}

func (h *hanode) ready(u *unit, n int, limit time.Duration) error {
	if err := waitFor(limit, "in sync", func() bool {
		s, err := status(u)
		if err != nil {
			return false
		}
		in, _ := find(s, "in_sync")
		sessions, _ := find(s, "sessions")
		f, _ := sessions.(float64)
		return in == true && int(f) >= n
	}); err != nil {
		return err
	}
	// A warm standby has the sessions in its kernel too; a cold one
	// writes them at commit.
	h.warm = waitFor(min(limit, time.Minute), "warm", func() bool { return u.kernelCount() >= n }) == nil && n > 0
	return nil
}

func (h *hanode) holds(u *unit, client netip.AddrPort, limit time.Duration) error {
	return waitFor(limit, "holding the stream", func() bool {
		if h.warm {
			return u.hasEntry(client)
		}
		return true // replicated within milliseconds; in the kernel at commit
	})
}

// hasEntry reports whether u's kernel has the stream's entry.
func (u *unit) hasEntry(client netip.AddrPort) bool {
	_, err := u.h.Run("conntrack", "-G", "-p", "tcp", "-s", client.Addr().String(), "-d", serverAddr.Addr().String(),
		"--sport", strconv.Itoa(int(client.Port())), "--dport", "8080")
	return err == nil
}

// conntrackd is keepalived (VRRPv3, unicast on the sync link) with
// conntrackd (FT-FW over UDP on the sync link), keepalived's notify
// script doing what Debian's primary-backup.sh does.
type conntrackd struct{}

func (conntrackd) name() string { return "keepalived + conntrackd" }

func (c conntrackd) start(u, peer *unit, first bool, interval time.Duration) error {
	if interval < 10*time.Millisecond || interval%(10*time.Millisecond) != 0 {
		return fmt.Errorf("keepalived: advert interval %v is not a multiple of 10ms", interval)
	}
	ctdConf := filepath.Join(u.dir, "conntrackd.conf")
	for _, f := range []string{"keepalived.pid", "vrrp.pid", "checkers.pid", "conntrackd.lock", "conntrackd.ctl"} {
		_ = os.Remove(filepath.Join(u.dir, f))
	}
	conf := conntrackdconf.Config{Self: u.syncAddr(), Peer: peer.syncAddr(), Interface: "eth2",
		Dir: u.dir, Name: "conntrackd", HashSize: 1 << 20, HashLimit: 8 << 20,
		Ignore: []netip.Addr{netip.MustParseAddr("127.0.0.1"), gwClient.Addr(), gwServer.Addr(),
			netip.AddrFrom4([4]byte{198, 18, 1, byte(u.n)}), netip.AddrFrom4([4]byte{198, 18, 2, byte(u.n)}), u.syncAddr()}}
	if err := conf.Write(ctdConf); err != nil {
		return err
	}
	// What Debian's primary-backup.sh does on each transition.
	script := filepath.Join(u.dir, "primary-backup.sh")
	if err := os.WriteFile(script, []byte(fmt.Sprintf(`#!/bin/sh
C="conntrackd -C %s"
case "$1" in
primary) $C -c; $C -f; $C -R; $C -B ;;
backup) $C -n ;;
esac
`, ctdConf)), 0o700); err != nil {
		return err
	}
	priority := 100
	if first {
		priority = 200
	}
	kaConf := filepath.Join(u.dir, "keepalived.conf")
	if err := os.WriteFile(kaConf, []byte(fmt.Sprintf(`global_defs {
	router_id %s
	vrrp_version 3
	enable_script_security
	script_user root
}

vrrp_instance fw {
	state BACKUP
	nopreempt
	interface eth2
	virtual_router_id 51
	priority %d
	advert_int %s
	unicast_src_ip %s
	unicast_peer {
		%s
	}
	virtual_ipaddress {
		%s dev eth0
		%s dev eth1
	}
	notify_master "%s primary"
	notify_backup "%s backup"
	notify_fault "%s backup"
}
`, u.name, priority, strconv.FormatFloat(interval.Seconds(), 'f', -1, 64), u.syncAddr(), peer.syncAddr(),
		gwClient, gwServer, script, script, script)), 0o600); err != nil {
		return err
	}
	if _, err := u.start("conntrackd", "-C", ctdConf); err != nil {
		return err
	}
	if err := waitFor(10*time.Second, "conntrackd up", func() bool {
		_, err := u.h.Run("conntrackd", "-C", ctdConf, "-s")
		return err == nil
	}); err != nil {
		return err
	}
	_, err := u.start("keepalived", "-n", "-l", "-D", "-f", kaConf,
		"-p", filepath.Join(u.dir, "keepalived.pid"), "-r", filepath.Join(u.dir, "vrrp.pid"),
		"-c", filepath.Join(u.dir, "checkers.pid"))
	return err
}

var externalRE = regexp.MustCompile(`cache:external\s+active objects:\s+(\d+)`)

func (conntrackd) ready(u *unit, n int, limit time.Duration) error {
	conf := filepath.Join(u.dir, "conntrackd.conf")
	if _, err := u.h.Run("conntrackd", "-C", conf, "-n"); err != nil {
		return err
	}
	return waitFor(limit, "holding the table in its external cache", func() bool {
		out, err := u.h.Run("conntrackd", "-C", conf, "-s", "cache")
		if err != nil {
			return false
		}
		m := externalRE.FindStringSubmatch(out)
		if m == nil {
			return false
		}
		got, _ := strconv.Atoi(m[1])
		return got >= n
	})
}

func (conntrackd) holds(u *unit, _ netip.AddrPort, limit time.Duration) error {
	// The external cache can only be read whole: give the stream's
	// events ample time to cross (they do in milliseconds).
	time.Sleep(min(limit, 2*time.Second))
	return nil
}

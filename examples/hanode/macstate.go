package main

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"

	"github.com/hakit/hakit/vmac"
)

// In interface mode the primary replaces each interface's own MAC with the
// virtual one and puts it back when it releases the role. A crash (SIGKILL,
// a panic, a power cut of the process) skips the release: the interface
// keeps the virtual MAC, and a restarted unit would answer with the same
// MAC as the new primary, so the switches would send the primary's frames
// to it. So the unit records the own MAC before the takeover, and start
// puts it back from the record.

// macFile is where the own MAC of ifname is recorded: one file per
// cluster, unit and interface, as units of several clusters (or, on a test
// bed, several namespaces) may share the directory.
func (c *config) macFile(ifname string) string {
	return filepath.Join(c.StateDir, fmt.Sprintf("c%d-u%d-%s.mac", c.ClusterID, c.UnitID, ifname))
}

// eachOwnMAC calls fn for every interface-mode takeover interface, with
// whether it carries the virtual MAC now.
func (d *daemon) eachOwnMAC(fn func(t vmac.Takeover, ifi *net.Interface, virtual bool) error) error {
	for _, t := range d.takeovers {
		if t.Macvlan != "" || t.MAC == nil {
			continue
		}
		ifi, err := net.InterfaceByName(t.Interface)
		if err != nil {
			return err
		}
		if err := fn(t, ifi, bytes.Equal(ifi.HardwareAddr, t.MAC)); err != nil {
			return err
		}
	}
	return nil
}

// recordMACs records the current MAC of every interface-mode takeover
// interface that does not carry the virtual MAC yet.
func (d *daemon) recordMACs() error {
	return d.eachOwnMAC(func(t vmac.Takeover, ifi *net.Interface, virtual bool) error {
		if virtual {
			return nil
		}
		if err := os.MkdirAll(d.cfg.StateDir, 0o755); err != nil {
			return err
		}
		return os.WriteFile(d.cfg.macFile(t.Interface), []byte(ifi.HardwareAddr.String()+"\n"), 0o644)
	})
}

// restoreMACs puts back the own MAC of every interface-mode takeover
// interface that still carries the virtual MAC (left by a crashed run):
// the recorded one, or a fresh random locally administered one when there
// is no record.
func (d *daemon) restoreMACs() error {
	return d.eachOwnMAC(func(t vmac.Takeover, _ *net.Interface, virtual bool) error {
		if !virtual {
			return nil
		}
		own, how, err := d.recordedMAC(t.Interface)
		if err != nil {
			return err
		}
		if _, err := vmac.SetMAC(t.Interface, own); err != nil {
			return fmt.Errorf("restore the own MAC of %s: %w", t.Interface, err)
		}
		d.log.Warn("the interface kept the virtual MAC of a crashed run; own MAC restored",
			"iface", t.Interface, "mac", own.String(), "from", how)
		return nil
	})
}

// recordedMAC reads the record of ifname's own MAC; without one it returns
// a random locally administered unicast MAC.
func (d *daemon) recordedMAC(ifname string) (net.HardwareAddr, string, error) {
	path := d.cfg.macFile(ifname)
	b, err := os.ReadFile(path)
	if err == nil {
		mac, perr := net.ParseMAC(string(bytes.TrimSpace(b)))
		if perr == nil && len(mac) == 6 && mac[0]&1 == 0 {
			return mac, path, nil
		}
		d.log.Warn("ignoring a bad MAC record", "path", path, "err", perr)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, "", err
	}
	mac := make(net.HardwareAddr, 6)
	if _, err := rand.Read(mac); err != nil {
		return nil, "", err
	}
	mac[0] = mac[0]&^1 | 2 // unicast, locally administered
	return mac, "random (no record)", nil
}

package vmac

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
)

// Restored is an interface whose own MAC Restore put back.
type Restored struct {
	// Interface is the interface's name.
	Interface string
	// MAC is the address put back.
	MAC net.HardwareAddr
	// Recorded reports that MAC came from the record; false means there was
	// no usable record, and MAC is a fresh random locally administered one.
	Recorded bool
}

// recordFile is where dir keeps ifname's own MAC.
func recordFile(dir, ifname string) string { return filepath.Join(dir, ifname+".mac") }

// ownMACs calls fn for every interface-mode takeover of ts with the
// interface's current MAC and whether that is the takeover's virtual MAC.
func ownMACs(ts []Takeover, fn func(t Takeover, current net.HardwareAddr, virtual bool) error) error {
	for _, t := range ts {
		if t.Macvlan != "" || t.MAC == nil {
			continue
		}
		if err := checkIfname(t.Interface); err != nil {
			return err
		}
		ifi, err := net.InterfaceByName(t.Interface)
		if err != nil {
			return fmt.Errorf("vmac: interface %q: %w: %v", t.Interface, ErrNoInterface, err)
		}
		if err := fn(t, ifi.HardwareAddr, bytes.Equal(ifi.HardwareAddr, t.MAC)); err != nil {
			return err
		}
	}
	return nil
}

// Record writes to directory dir (created if missing) the current MAC of the
// interface of every takeover in ts that puts its virtual MAC on the
// interface itself (MAC set, no Macvlan) and does not carry it yet, for
// Restore. Call it before Apply. Each interface has its own file
// (INTERFACE.mac); units sharing a directory need one each, so give each
// its own dir. A record is replaced atomically. Like the rest of the
// toolbox it reads the calling thread's network namespace.
func Record(dir string, ts ...Takeover) error {
	return ownMACs(ts, func(t Takeover, current net.HardwareAddr, virtual bool) error {
		if virtual {
			return nil // the record of the takeover that put it there stands
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("vmac: record the MAC of %s: %w", t.Interface, err)
		}
		return writeRecord(recordFile(dir, t.Interface), current)
	})
}

// writeRecord writes mac to path by a rename, so a crash leaves the old
// record or the new one, never half of one.
func writeRecord(path string, mac net.HardwareAddr) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(mac.String()+"\n"), 0o644); err != nil {
		return fmt.Errorf("vmac: record %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("vmac: record %s: %w", path, err)
	}
	return nil
}

// readRecord returns the MAC recorded at path; ok is false when there is no
// record or it does not hold a 6-byte unicast MAC.
func readRecord(path string) (mac net.HardwareAddr, ok bool, err error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("vmac: read %s: %w", path, err)
	}
	mac, err = net.ParseMAC(string(bytes.TrimSpace(b)))
	if err != nil || checkUnicastMAC(mac) != nil {
		return nil, false, nil
	}
	return mac, true, nil
}

// randomMAC returns a random locally administered unicast MAC.
func randomMAC() (net.HardwareAddr, error) {
	mac := make(net.HardwareAddr, 6)
	if _, err := rand.Read(mac); err != nil {
		return nil, err
	}
	mac[0] = mac[0]&^1 | 2 // unicast, locally administered
	return mac, nil
}

// Restore puts back the own MAC of every interface of ts that still carries
// its takeover's virtual MAC, left by a run that ended without releasing it:
// the MAC that Record wrote to dir, or, when there is no usable record, a
// fresh random locally administered one (any address but the virtual one
// ends the collision with the primary). It returns the interfaces it
// changed; on an error, those changed before it. Interfaces that do not
// carry their virtual MAC are left alone. It acts in the calling thread's
// network namespace; on platforms without the toolbox it fails with an
// error wrapping errors.ErrUnsupported when there is a MAC to put back.
func Restore(dir string, ts ...Takeover) ([]Restored, error) {
	var out []Restored
	err := ownMACs(ts, func(t Takeover, _ net.HardwareAddr, virtual bool) error {
		if !virtual {
			return nil
		}
		mac, ok, err := readRecord(recordFile(dir, t.Interface))
		if err != nil {
			return err
		}
		if !ok {
			if mac, err = randomMAC(); err != nil {
				return fmt.Errorf("vmac: restore %s: %w", t.Interface, err)
			}
		}
		if _, err := setMAC(t.Interface, mac); err != nil {
			return fmt.Errorf("vmac: restore the own MAC of %s: %w", t.Interface, err)
		}
		out = append(out, Restored{Interface: t.Interface, MAC: mac, Recorded: ok})
		return nil
	})
	return out, err
}

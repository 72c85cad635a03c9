package vmac

import (
	"fmt"
	"net"
	"net/netip"
)

// Takeover is what a unit applies to one interface when it becomes the
// primary: the virtual MAC (on the interface itself or on a macvlan child)
// and the virtual IP addresses.
type Takeover struct {
	// Interface is the unit's interface, for example "eth0".
	Interface string
	// MAC is the virtual MAC to present. Nil keeps the interface's own MAC
	// (IP-move mode: only the addresses move, and garp tells the network).
	MAC net.HardwareAddr
	// Macvlan, when not empty, is the name of a macvlan child of Interface
	// that Apply creates to carry MAC and the virtual IPs, leaving the
	// interface's own MAC alone (keepalived's use_vmac). It needs MAC.
	// Apply also sets arp_ignore=1 and arp_announce=2 on Interface (restored
	// on Release) so that only the child answers for the virtual IPs.
	Macvlan string
	// MacvlanMode is the child's mode; zero means MacvlanBridge.
	MacvlanMode MacvlanMode
	// VIPs are virtual IP addresses that take the prefix length of the
	// subnet of Interface they lie in (see AddVIPs).
	VIPs []netip.Addr
	// Prefixes are virtual IP addresses with explicit prefix lengths (see
	// AddPrefixes).
	Prefixes []netip.Prefix
}

// Apply applies the takeovers in order, all or nothing: if any step fails,
// every change already made is undone before Apply returns the error. The
// returned Handle undoes everything, in reverse order. Like the rest of the
// toolbox it acts in the calling thread's network namespace.
func Apply(ts ...Takeover) (*Handle, error) {
	for i := range ts {
		if err := ts[i].check(); err != nil {
			return nil, err
		}
	}
	h := &Handle{}
	for _, t := range ts {
		if err := t.apply(h); err != nil {
			return nil, h.rollback(err)
		}
	}
	return h, nil
}

// check validates t without touching the system.
func (t *Takeover) check() error {
	if err := checkIfname(t.Interface); err != nil {
		return err
	}
	if t.MAC != nil {
		if err := checkUnicastMAC(t.MAC); err != nil {
			return err
		}
	}
	if t.Macvlan != "" {
		if t.MAC == nil {
			return fmt.Errorf("vmac: macvlan %q needs a MAC: %w", t.Macvlan, ErrInvalid)
		}
		if err := checkIfname(t.Macvlan); err != nil {
			return err
		}
		if t.MacvlanMode != 0 && (t.MacvlanMode < MacvlanPrivate || t.MacvlanMode > MacvlanBridge) {
			return fmt.Errorf("vmac: macvlan mode %v: %w", t.MacvlanMode, ErrInvalid)
		}
	}
	for _, a := range t.VIPs {
		if err := checkVIP(a); err != nil {
			return err
		}
	}
	for _, p := range t.Prefixes {
		if !p.IsValid() {
			return fmt.Errorf("vmac: prefix %v: %w", p, ErrInvalid)
		}
		if err := checkVIP(p.Addr()); err != nil {
			return err
		}
		if err := checkHost(p); err != nil {
			return err
		}
	}
	return nil
}

// apply makes t's changes, recording each undo step in h.
func (t *Takeover) apply(h *Handle) error {
	if t.Macvlan == "" {
		if t.MAC != nil {
			hm, err := setMAC(t.Interface, t.MAC)
			if err != nil {
				return err
			}
			h.push(hm.Release)
		}
		if len(t.VIPs)+len(t.Prefixes) > 0 {
			hv, err := addVIPs(t.Interface, t.VIPs, t.Prefixes)
			if err != nil {
				return err
			}
			h.push(hv.Release)
		}
		return nil
	}

	// Resolve the prefix lengths on the parent before creating anything.
	ps, err := resolveVIPs(t.Interface, t.VIPs)
	if err != nil {
		return err
	}
	ps = append(ps, t.Prefixes...)
	for _, s := range [][2]string{{"arp_ignore", "1"}, {"arp_announce", "2"}} {
		undo, err := setSysctl("net/ipv4/conf/"+t.Interface+"/"+s[0], s[1])
		if err != nil {
			return err
		}
		h.push(undo)
	}
	mode := t.MacvlanMode
	if mode == 0 {
		mode = MacvlanBridge
	}
	hm, err := addMacvlan(t.Interface, t.Macvlan, t.MAC, mode)
	if err != nil {
		return err
	}
	h.push(hm.Release)
	if len(ps) > 0 {
		// Deleting the child removes its addresses, but release them
		// explicitly too, so that Release reports a failure to do so.
		hv, err := addVIPs(t.Macvlan, nil, ps)
		if err != nil {
			return err
		}
		h.push(hv.Release)
	}
	return nil
}

package vmac

import (
	"fmt"
	"net/netip"
	"time"
)

// SetLifetime gives the virtual addresses prefixes on the interface ifname
// a valid and preferred lifetime (whole seconds, at least one): the kernel
// removes each address that long after the last call, so a unit that dies
// without releasing its addresses (SIGKILL, a hung machine) stops
// answering for them by itself. A unit holding them calls SetLifetime
// again well before the lifetime ends (a third of it, say); an address
// the kernel has already removed is added again, as the caller holds the
// role. Release removes them as before. Like the rest of the toolbox it
// acts in the calling thread's network namespace.
func SetLifetime(ifname string, lifetime time.Duration, prefixes ...netip.Prefix) error {
	if err := checkIfname(ifname); err != nil {
		return err
	}
	if lifetime < time.Second || lifetime > 365*24*time.Hour {
		return fmt.Errorf("vmac: address lifetime %v outside [1s, 1 year]: %w", lifetime, ErrInvalid)
	}
	for _, p := range prefixes {
		if !p.IsValid() {
			return fmt.Errorf("vmac: prefix %v: %w", p, ErrInvalid)
		}
		if err := checkVIP(p.Addr()); err != nil {
			return err
		}
	}
	return setLifetime(ifname, uint32(lifetime/time.Second), prefixes)
}

//go:build !linux

package vmac

import (
	"fmt"
	"net"
	"net/netip"
	"runtime"
)

func errPlatform() error {
	return fmt.Errorf("vmac: not supported on %s: %w", runtime.GOOS, ErrNotSupported)
}

func setMAC(string, net.HardwareAddr) (*Handle, error) { return nil, errPlatform() }

func addMacvlan(string, string, net.HardwareAddr, MacvlanMode) (*Handle, error) {
	return nil, errPlatform()
}

func addVIPs(string, []netip.Addr, []netip.Prefix) (*Handle, error) { return nil, errPlatform() }

func removeVIPs(string, []netip.Addr) error { return errPlatform() }

func resolveVIPs(string, []netip.Addr) ([]netip.Prefix, error) { return nil, errPlatform() }

func setSysctl(string, string) (func() error, error) { return nil, errPlatform() }

func listenFrames(string, []net.HardwareAddr) (net.PacketConn, error) { return nil, errPlatform() }

func removeMacvlan(string) error { return errPlatform() }

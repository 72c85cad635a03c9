//go:build !linux

package vmac

import (
	"net"
	"net/netip"

	"github.com/hakit/hakit/internal/platform"
)

func unsupported(op string) error { return platform.Unsupported("vmac", op) }

func setMAC(string, net.HardwareAddr) (*Handle, error) { return nil, unsupported("set MAC") }

func addMacvlan(string, string, net.HardwareAddr, MacvlanMode) (*Handle, error) {
	return nil, unsupported("add macvlan")
}

func addVIPs(string, []netip.Addr, []netip.Prefix) (*Handle, error) {
	return nil, unsupported("add virtual IPs")
}

func removeVIPs(string, []netip.Addr) error { return unsupported("remove virtual IPs") }

func resolveVIPs(string, []netip.Addr) ([]netip.Prefix, error) {
	return nil, unsupported("resolve virtual IPs")
}

func setSysctl(string, string) (func() error, error) { return nil, unsupported("set sysctl") }

func listenFrames(string, []net.HardwareAddr) (net.PacketConn, error) {
	return nil, unsupported("listen frames")
}

func removeMacvlan(string) error { return unsupported("remove macvlan") }

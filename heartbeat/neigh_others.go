//go:build !linux

package heartbeat

import "net/netip"

// KernelNeighbours returns the kernel's neighbour table as a NeighbourSource.
// It is only implemented on Linux; elsewhere its Neighbours returns an error
// that wraps errors.ErrUnsupported.
func KernelNeighbours() NeighbourSource { return unsupportedNeighbours{} }

type unsupportedNeighbours struct{}

func (unsupportedNeighbours) Neighbours(string) ([]netip.Addr, error) {
	return nil, notSupported("kernel neighbour table")
}

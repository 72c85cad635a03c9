//go:build !linux

package heartbeat

import (
	"net/netip"

	"github.com/hakit/hakit/internal/platform"
)

// KernelNeighbours returns the kernel's neighbour table as a NeighbourSource.
// It is only implemented on Linux; elsewhere its Neighbours returns an error
// that wraps errors.ErrUnsupported.
func KernelNeighbours() NeighbourSource { return unsupportedNeighbours{} }

type unsupportedNeighbours struct{}

func (unsupportedNeighbours) Neighbours(string) ([]netip.Addr, error) {
	return nil, platform.Unsupported("heartbeat", "kernel neighbours")
}

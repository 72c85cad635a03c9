package check

import (
	"context"
	"fmt"
	"net"
)

// Interface returns a probe that passes while the interface name exists,
// is up and has carrier (running).
func Interface(name string) func(ctx context.Context) error {
	return func(context.Context) error {
		ifi, err := net.InterfaceByName(name)
		switch {
		case err != nil:
			return fmt.Errorf("interface %s: %w", name, err)
		case ifi.Flags&net.FlagUp == 0:
			return fmt.Errorf("interface %s is down", name)
		case ifi.Flags&net.FlagRunning == 0:
			return fmt.Errorf("interface %s has no carrier", name)
		}
		return nil
	}
}

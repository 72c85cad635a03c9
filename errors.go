package hakit

import "errors"

// ErrConfig is wrapped by every configuration error of every hakit package:
// an invalid field of a Config (reported by its Validate and by the
// constructors), an invalid key, or an argument out of range. Test with
// errors.Is. The messages read "pkg: what is wrong: invalid configuration".
//
// The other errors follow two rules as well: an operation a platform does
// not support returns an error wrapping errors.ErrUnsupported ("pkg: op:
// not supported on GOOS"), and an I/O error from one of hakit's own
// connections (heartbeat Conns and Probers, statesync transports, garp and
// vmac sockets) is a *net.OpError.
var ErrConfig = errors.New("invalid configuration")

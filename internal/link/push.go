package link

import "net"

// framePusher is a net.PacketConn that can deliver whole frames to a
// handler instead of through ReadFrom: a simulated segment's port.
type framePusher interface {
	SetHandler(func(frame []byte, src net.HardwareAddr))
}

// CanPush reports whether pc can deliver frames to a handler.
func CanPush(pc net.PacketConn) bool {
	_, ok := pc.(framePusher)
	return ok
}

// SetHandler makes pc, when it can (see CanPush), call h with each frame
// received; nil returns it to ReadFrom. It reports whether pc can.
func SetHandler(pc net.PacketConn, h func(frame []byte)) bool {
	fp, ok := pc.(framePusher)
	switch {
	case !ok:
		return false
	case h == nil:
		fp.SetHandler(nil)
	default:
		fp.SetHandler(func(f []byte, _ net.HardwareAddr) { h(f) })
	}
	return true
}

//go:build !linux

package rxqovfl

import "net"

const oobLen = 0

func enable(*net.UDPConn) bool { return false }

func parse([]byte) (uint32, bool) { return 0, false }

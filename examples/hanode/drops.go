package main

import (
	"github.com/hakit/hakit/election/member"
	"github.com/hakit/hakit/heartbeat"
)

// transports are the daemon's heartbeat sockets, kept for their drop
// counters (the unit owns and closes them). The sync transport's drops are
// in the sync driver's counters (Counters.SyncDriver.Transport).
type transports struct {
	heartbeat []member.Interface
}

// TransportDrops are what the heartbeat sockets dropped before the
// protocol saw it.
type TransportDrops struct {
	// KernelDrops counts, per heartbeat interface, the frames the kernel
	// dropped because the socket's receive queue was full (real heartbeats
	// may be among them: the daemon did not keep up, or a flood).
	KernelDrops map[string]uint64 `json:"heartbeat_kernel_drops"`
}

func (t *transports) drops() TransportDrops {
	out := TransportDrops{KernelDrops: map[string]uint64{}}
	for _, i := range t.heartbeat {
		if n, ok := heartbeat.KernelDrops(i.Conn); ok {
			out.KernelDrops[i.Name] = n
		}
	}
	return out
}

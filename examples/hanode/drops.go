package main

import (
	"github.com/hakit/hakit/election/member"
	"github.com/hakit/hakit/heartbeat"
	"github.com/hakit/hakit/statesync"
)

// transports are the daemon's sockets, kept for their drop counters (the
// unit owns and closes them).
type transports struct {
	heartbeat []member.Interface
	sync      statesync.Transport
}

// TransportDrops are what the sockets dropped before the protocols saw it.
type TransportDrops struct {
	// KernelDrops counts, per heartbeat interface, the frames the kernel
	// dropped because the socket's receive queue was full (real heartbeats
	// may be among them: the daemon did not keep up, or a flood).
	KernelDrops map[string]uint64 `json:"heartbeat_kernel_drops"`
	// SyncOtherSource counts UDP sync datagrams from addresses other than
	// the peer's; SyncEthernet the raw Ethernet sync frames too short, of
	// another EtherType or from another MAC.
	SyncOtherSource uint64                   `json:"sync_other_source,omitempty"`
	SyncEthernet    *statesync.EthernetStats `json:"sync_ethernet,omitempty"`
}

func (t *transports) drops() TransportDrops {
	out := TransportDrops{KernelDrops: map[string]uint64{}}
	for _, i := range t.heartbeat {
		if n, ok := heartbeat.KernelDrops(i.Conn); ok {
			out.KernelDrops[i.Name] = n
		}
	}
	switch s := t.sync.(type) {
	case *statesync.UDPTransport:
		out.SyncOtherSource = s.Ignored()
	case *statesync.EthernetTransport:
		st := s.Stats()
		out.SyncEthernet = &st
	}
	return out
}

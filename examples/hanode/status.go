package main

import (
	"encoding/json"
	"net"
	"net/http"
	"slices"
	"time"

	"github.com/hakit/hakit/election/member"
	"github.com/hakit/hakit/garp"
	"github.com/hakit/hakit/heartbeat"
	"github.com/hakit/hakit/statesync"
	"github.com/hakit/hakit/vmac"
)

// Status is the JSON document the -status server returns.
type Status struct {
	Cluster uint16   `json:"cluster"`
	Unit    uint16   `json:"unit"`
	Role    string   `json:"role"`
	Active  bool     `json:"active"` // the virtual addresses are up here
	Held    []string `json:"steps_held"`
	// LastTakeover holds the phases of the last takeover here.
	LastTakeover *member.Takeover  `json:"last_takeover,omitempty"`
	Peers        []PeerStatus      `json:"peers"`
	Interfaces   []InterfaceStatus `json:"interfaces"`
	Sync         *SyncStatus       `json:"sync,omitempty"`
	RoleLog      []string          `json:"role_log"`
	Counters     Counters          `json:"counters"`
	Collisions   []CollisionStatus `json:"collisions,omitempty"` // another cluster uses our cluster ID (clusterid.go)
	VRRP         *VRRPStatus       `json:"vrrp,omitempty"`       // with -protocol vrrp

	// Priority is the configured priority, Effective the one advertised
	// (less the weights of the failing checks).
	Priority  uint8         `json:"priority"`
	Effective uint8         `json:"effective_priority"`
	Checks    []CheckStatus `json:"checks,omitempty"`
	// Warnings say what this unit's configuration gives up (no key).
	Warnings []string `json:"warnings,omitempty"`
	// Bridges are the transparent mode's bridges (-bridge, bridge.go).
	Bridges []BridgeStatus `json:"bridges,omitempty"`
}

// CheckStatus is one health check's state.
type CheckStatus struct {
	Name     string `json:"name"`
	Weight   uint8  `json:"weight"` // 0: a fault while failing
	Failing  bool   `json:"failing"`
	LastErr  string `json:"last_error,omitempty"`
	Runs     uint64 `json:"runs"`
	Failures uint64 `json:"failures"`
}

// PeerStatus is one peer as the heartbeats show it.
type PeerStatus struct {
	Unit  uint16       `json:"unit"`
	Role  string       `json:"role"`
	Links []LinkStatus `json:"links"`
}

// LinkStatus is a peer's state on one local interface.
type LinkStatus struct {
	Interface string    `json:"interface"`
	State     string    `json:"state"`
	Addr      string    `json:"addr,omitempty"`
	LastHeard time.Time `json:"last_heard"`
	Loss      float64   `json:"loss"`
}

// InterfaceStatus is the link state of a monitored interface.
type InterfaceStatus struct {
	Name string `json:"name"`
	Up   bool   `json:"up"`
}

// SyncStatus is the session replication's progress.
type SyncStatus struct {
	Sending  bool   `json:"sending"`
	InSync   bool   `json:"in_sync"`
	Sessions int    `json:"sessions"`
	Done     uint64 `json:"done"` // bulk sync records sent or applied
	Total    uint64 `json:"total"`
	Bulk     bool   `json:"bulk_running"`
	// Peers: the streams with each sync peer (each acknowledges on its
	// own and has its own bulk sync).
	Peers []SyncPeerStatus `json:"peers,omitempty"`
}

// SyncPeerStatus is the replication with one peer.
type SyncPeerStatus struct {
	Unit      uint16 `json:"unit,omitempty"` // 0: the only peer, unnamed
	Acked     bool   `json:"acked"`          // it acknowledged all this unit sent
	InSync    bool   `json:"in_sync"`        // this unit holds its whole table
	Sent      uint64 `json:"sent"`           // of Total, in the bulk sync to it
	Total     uint64 `json:"total"`
	Got       uint64 `json:"got"` // of Announced, in the bulk sync from it
	Announced uint64 `json:"announced"`
}

// Counters gathers every part's counters.
type Counters struct {
	Heartbeat        heartbeat.Counters       `json:"heartbeat"`
	Member           member.Counters          `json:"member"` // the election's included
	GARP             garp.Stats               `json:"garp"`
	Sender           *statesync.SenderStats   `json:"sender,omitempty"`
	Receiver         *statesync.ReceiverStats `json:"receiver,omitempty"`
	TakeoverFailures uint64                   `json:"takeover_failures"` // steps that failed (each rolled back, retried)
	FollowerRestarts uint64                   `json:"conntrack_follower_restarts"`
	Transport        TransportDrops           `json:"transport_drops"` // drops.go
	VMACGuard        vmac.GuardStats          `json:"vmac_guard"`      // guard.go
	// SyncDriver counts what the sync driver and its transport dropped
	// before the halves saw it (short datagrams, acks to a receive-only
	// standby, other clusters, unknown units, the socket's own drops).
	SyncDriver *statesync.DriverStats `json:"sync_driver,omitempty"`
}

func (d *daemon) snapshot() Status {
	st := d.unit.Status()
	s := Status{Cluster: d.cfg.ClusterID, Unit: d.cfg.UnitID, Role: st.Role.String(),
		Active: slices.Contains(st.Held, "addresses"), Held: st.Held, LastTakeover: st.LastTakeover,
		Priority: st.Priority, Effective: st.Effective}
	for _, c := range st.Checks {
		s.Checks = append(s.Checks, CheckStatus{Name: c.Name, Weight: c.Weight, Failing: c.Failing, LastErr: c.LastErr, Runs: c.Runs, Failures: c.Failures})
	}
	s.Warnings = d.cfg.warnings()
	s.Bridges = d.bridgeStatus()
	s.Collisions = collisionStatus(st.Collisions)
	found, gs := d.guard.collisions()
	s.Collisions = append(s.Collisions, found...)
	for _, p := range st.Peers {
		ps := PeerStatus{Unit: p.Unit, Role: p.Candidate.Role.String()}
		for _, l := range p.Links {
			ls := LinkStatus{Interface: l.Interface, State: l.State.String(), LastHeard: l.LastHeard, Loss: l.Loss}
			if l.Addr.IsValid() {
				ls.Addr = l.Addr.String()
			}
			ps.Links = append(ps.Links, ls)
		}
		s.Peers = append(s.Peers, ps)
	}
	for _, name := range d.monitored {
		ifi, err := net.InterfaceByName(name)
		s.Interfaces = append(s.Interfaces, InterfaceStatus{Name: name,
			Up: err == nil && ifi.Flags&net.FlagUp != 0 && ifi.Flags&net.FlagRunning != 0})
	}
	s.Counters = Counters{Heartbeat: st.Heartbeat, Member: st.Counters, GARP: d.speaker.Stats(),
		TakeoverFailures: st.Counters.StepFailures}
	s.Counters.Transport = d.links.drops()
	s.Counters.VMACGuard = gs
	if d.keeper != nil {
		s.Counters.FollowerRestarts = d.keeper.Restarts()
	}
	if y := st.Sync; y != nil {
		ss := &SyncStatus{Sending: y.Sending, InSync: st.InSync, Sessions: y.Sessions}
		s.Counters.SyncDriver = &y.Driver
		if y.Sending {
			ss.Done, ss.Total, ss.Bulk = y.Sent, y.SendTotal, y.SendBulk
			s.Counters.Sender = &y.Sender
		} else {
			ss.Done, ss.Total, ss.Bulk = y.Got, y.GotTotal, y.GotBulk
			s.Counters.Receiver = &y.Receiver
		}
		for _, p := range y.Peers {
			ss.Peers = append(ss.Peers, SyncPeerStatus{Unit: p.Unit, Acked: p.Acked, InSync: p.InSync,
				Sent: p.Sent, Total: p.Total, Got: p.Got, Announced: p.Announced})
		}
		s.Sync = ss
	}
	s.VRRP = d.vrrpStatus()
	d.mu.Lock()
	s.RoleLog = append([]string{}, d.events...)
	d.mu.Unlock()
	return s
}

func (d *daemon) serveStatus(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(d.snapshot())
}

package main

import (
	"encoding/json"
	"net"
	"net/http"
	"time"

	"github.com/hakit/hakit/election"
	"github.com/hakit/hakit/garp"
	"github.com/hakit/hakit/heartbeat"
	"github.com/hakit/hakit/statesync"
)

// Status is the JSON document the -status server returns.
type Status struct {
	Cluster    uint16            `json:"cluster"`
	Unit       uint16            `json:"unit"`
	Role       string            `json:"role"`
	Active     bool              `json:"active"` // the virtual addresses are up here
	Peers      []PeerStatus      `json:"peers"`
	Interfaces []InterfaceStatus `json:"interfaces"`
	Sync       *SyncStatus       `json:"sync,omitempty"`
	RoleLog    []string          `json:"role_log"`
	Counters   Counters          `json:"counters"`
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
}

// Counters gathers every part's counters.
type Counters struct {
	Heartbeat        heartbeat.Counters       `json:"heartbeat"`
	Election         election.Counters        `json:"election"`
	GARP             garp.Stats               `json:"garp"`
	Sender           *statesync.SenderStats   `json:"sender,omitempty"`
	Receiver         *statesync.ReceiverStats `json:"receiver,omitempty"`
	TakeoverFailures uint64                   `json:"takeover_failures"`
	FollowerRestarts uint64                   `json:"conntrack_follower_restarts"`
}

func (d *daemon) snapshot() Status {
	s := Status{Cluster: d.cfg.ClusterID, Unit: d.cfg.UnitID, Role: d.elect.Role().String()}
	for _, p := range d.node.Peers() {
		ps := PeerStatus{Unit: p.Unit, Role: p.Role.String()}
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
	s.Counters.Heartbeat = d.node.Counters()
	s.Counters.Election = d.elect.Counters()
	s.Counters.GARP = d.speaker.Stats()
	d.mu.Lock()
	defer d.mu.Unlock()
	s.Active = d.held != nil
	s.RoleLog = append([]string{}, d.events...)
	s.Counters.TakeoverFailures = d.failures
	s.Counters.FollowerRestarts = d.followerRestarts.Load()
	if d.sync != nil {
		sending := d.sync.Sending()
		ss := &SyncStatus{Sending: sending, InSync: sending || d.sync.InSync(), Sessions: d.table.Len()}
		if sending {
			ss.Done, ss.Total, ss.Bulk = d.sync.Progress()
			st := d.sync.SenderStats()
			s.Counters.Sender = &st
		} else {
			ss.Done, ss.Total, ss.Bulk = d.sync.ReceiveProgress()
			st := d.sync.ReceiverStats()
			s.Counters.Receiver = &st
		}
		s.Sync = ss
	}
	return s
}

func (d *daemon) serveStatus(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(d.snapshot())
}

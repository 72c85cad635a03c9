package notify

import (
	"strconv"
	"strings"
	"time"

	"github.com/hakit/hakit/election/member"
)

// Record is an event in the form hooks and streams carry: plain strings
// and numbers, the fields that do not apply empty (and omitted in JSON).
type Record struct {
	Time    time.Time `json:"time"`
	Kind    string    `json:"kind"`
	Cluster uint16    `json:"cluster"`
	Unit    uint16    `json:"unit"`
	Peer    uint16    `json:"peer,omitempty"`
	From    string    `json:"from,omitempty"`
	To      string    `json:"to,omitempty"`
	// Cause is a role change's cause, as the metrics' label
	// (election.Cause: peer_lost, check, …).
	Cause     string `json:"cause,omitempty"`
	Reason    string `json:"reason,omitempty"`
	Interface string `json:"interface,omitempty"`
	State     string `json:"state,omitempty"`
	Election  string `json:"election,omitempty"`
	// InSync is set on sync events only.
	InSync *bool  `json:"in_sync,omitempty"`
	Step   string `json:"step,omitempty"`
	Action string `json:"action,omitempty"`
	Error  string `json:"error,omitempty"`
	// Takeover is set on a completed takeover.
	Takeover *TakeoverRecord `json:"takeover,omitempty"`
	// Lost, in a record of kind "lost" on a stream, counts the events this
	// subscriber missed because it did not keep up.
	Lost uint64 `json:"lost,omitempty"`
}

// TakeoverRecord is a completed takeover's phases.
type TakeoverRecord struct {
	Seconds  float64       `json:"seconds"`
	Phases   []PhaseRecord `json:"phases"`
	Attempts int           `json:"attempts"`
}

// PhaseRecord is one phase of a takeover.
type PhaseRecord struct {
	Name    string  `json:"name"`
	Seconds float64 `json:"seconds"`
}

// NewRecord returns the record of e, an event of unit of cluster.
func NewRecord(cluster, unit uint16, e member.Event) Record {
	r := Record{Time: e.Time.UTC(), Kind: Kind(e.Kind), Cluster: cluster, Unit: unit, Peer: e.Peer, Reason: e.Reason,
		Interface: e.Interface, Step: e.Step}
	if e.Kind == member.EventRoleChange {
		r.From, r.To, r.Cause = e.From.String(), e.To.String(), e.Cause.String()
	}
	if e.State != 0 {
		r.State = e.State.String()
	}
	if e.Kind == member.EventElection {
		r.Election = e.Election.String()
	}
	if e.Kind == member.EventSync {
		in := e.InSync
		r.InSync = &in
	}
	if e.Action != 0 {
		r.Action = e.Action.String()
	}
	if e.Err != nil {
		r.Error = e.Err.Error()
	}
	if t := e.Takeover; t != nil {
		tr := &TakeoverRecord{Seconds: t.Total().Seconds(), Attempts: t.Attempts}
		for _, p := range t.Phases() {
			tr.Phases = append(tr.Phases, PhaseRecord{Name: p.Name, Seconds: p.Duration.Seconds()})
		}
		r.Takeover = tr
	}
	return r
}

// Kind returns the name of an event kind in records and in HAKIT_EVENT:
// its words in lower case joined by underscores ("role_change").
func Kind(k member.EventKind) string {
	var b strings.Builder
	under := false
	for _, c := range strings.ToLower(k.String()) {
		if c >= 'a' && c <= 'z' || c >= '0' && c <= '9' {
			if under && b.Len() > 0 {
				b.WriteByte('_')
			}
			under = false
			b.WriteRune(c)
		} else {
			under = true
		}
	}
	return b.String()
}

// Env returns the record as HAKIT_ environment variables (see the package
// documentation).
func (r Record) Env() []string {
	env := []string{
		"HAKIT_EVENT=" + r.Kind,
		"HAKIT_TIME=" + r.Time.Format(time.RFC3339Nano),
		"HAKIT_CLUSTER=" + strconv.Itoa(int(r.Cluster)),
		"HAKIT_UNIT=" + strconv.Itoa(int(r.Unit)),
	}
	add := func(name, v string) {
		if v != "" {
			env = append(env, "HAKIT_"+name+"="+v)
		}
	}
	if r.Peer != 0 {
		add("PEER", strconv.Itoa(int(r.Peer)))
	}
	add("FROM", r.From)
	add("TO", r.To)
	add("CAUSE", r.Cause)
	add("REASON", r.Reason)
	add("INTERFACE", r.Interface)
	add("STATE", r.State)
	add("ELECTION", r.Election)
	if r.InSync != nil {
		add("IN_SYNC", strconv.FormatBool(*r.InSync))
	}
	add("STEP", r.Step)
	add("ACTION", r.Action)
	add("ERROR", r.Error)
	if t := r.Takeover; t != nil {
		add("TAKEOVER_SECONDS", strconv.FormatFloat(t.Seconds, 'f', 3, 64))
		var ps []string
		for _, p := range t.Phases {
			ps = append(ps, p.Name+"="+strconv.FormatFloat(p.Seconds, 'f', 3, 64))
		}
		add("PHASES", strings.Join(ps, ";"))
	}
	return env
}

// Notable reports whether an event is one hooks and streams carry by
// default: every kind except the heartbeat reports that are not verdicts,
// dropped payloads and single steps done (a takeover_complete or a
// released follows them).
func Notable(e member.Event) bool {
	switch e.Kind {
	case member.EventHeartbeat:
		return e.State.Verdict()
	case member.EventDropped, member.EventStep:
		return false
	}
	return true
}

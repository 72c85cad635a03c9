// Package notify tells the world what a cluster member does: a Hook runs
// a command of the operator's on every notable event of an
// election/member Driver (keepalived's notify scripts), with the event in
// environment variables, and a Stream serves the same events as
// newline-delimited JSON over HTTP to every subscriber (for tools that
// would rather subscribe than be called).
//
// Neither ever holds up the unit: Observe queues the event and returns at
// once. A Hook runs its commands one at a time, in order, each killed
// (with its whole process group) at its timeout; an event that finds the
// queue full is dropped. A slow, failing or killed command is counted and
// logged at warning level; nothing else happens. A Stream subscriber that
// does not keep up loses events, and is told how many in a record of kind
// "lost".
//
//	hook, err := notify.NewHook(&notify.HookConfig{Command: []string{"/etc/hanode/notify"}, Unit: 1, Logger: log})
//	if err != nil {
//		return err
//	}
//	stream := notify.NewStream(&notify.StreamConfig{Unit: 1})
//	cfg.OnEvent = func(e member.Event) { hook.Observe(e); stream.Observe(e) }
//	http.Handle("/events", stream)
//
// # The environment of a hook
//
// A hook's command gets the unit's environment and these variables; the
// ones that do not apply to the event are absent:
//
//	HAKIT_EVENT      the kind: role_change, heartbeat (a verdict), split_brain, election,
//	                 sync, step_failed, rolled_back, step_down_failed, re_announce_failed,
//	                 takeover_complete, released, …
//	HAKIT_TIME       when, RFC 3339 with nanoseconds, UTC
//	HAKIT_CLUSTER    HAKIT_UNIT: this unit
//	HAKIT_FROM       HAKIT_TO: the roles of a role change (initial, primary, secondary)
//	HAKIT_CAUSE      a role change's cause, as a value: peer_lost, interface_fault, local_fault,
//	                 split_brain, peer_primary, handover, preempt, witness, check, election, …
//	HAKIT_REASON     why, in words
//	HAKIT_PEER       the peer involved
//	HAKIT_INTERFACE  HAKIT_STATE: a heartbeat verdict's interface and state
//	HAKIT_ELECTION   the election's own kind of an election event
//	HAKIT_IN_SYNC    true or false: a sync event's new state
//	HAKIT_STEP       HAKIT_ACTION, HAKIT_ERROR: a takeover step's name, action, error
//	HAKIT_TAKEOVER_SECONDS, HAKIT_PHASES: a completed takeover's total and its
//	                 phases ("election=0.225;sessions=0.000;addresses=0.003;…")
//
// Stream records carry the same fields in JSON (see Record).
package notify

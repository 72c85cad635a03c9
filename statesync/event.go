package statesync

import (
	"context"
	"fmt"
	"log/slog"
)

// EventKind says what an Event reports. The zero EventKind is invalid.
type EventKind uint8

// Event kinds.
const (
	// EventResync: the sender started a new stream with a full bulk sync,
	// because the resend window overflowed, a gap could not be filled, or
	// the receiver asked for it (Reason says which). Logged at Warn.
	EventResync EventKind = iota + 1
	// EventBulkStart: a bulk sync started (sender) or began arriving
	// (receiver); Total is the number of sessions it will carry.
	EventBulkStart
	// EventBulkDone: a bulk sync completed; Sent is the sessions it
	// carried (sender) or the records applied during it (receiver).
	EventBulkDone
	// EventBulkOverdue: a bulk sync has been running longer than the
	// configured bound. Logged at Warn; the sync continues.
	EventBulkOverdue
	// EventInSync: the receiver holds the whole table of the sender: the
	// bulk sync of the current stream completed and the sender is heard.
	EventInSync
	// EventOutOfSync: the receiver no longer knows that it holds the
	// sender's table (new stream, silence, unusable datagram; Reason).
	EventOutOfSync
	// EventHandedBack: the peer acknowledged the whole table this unit
	// handed to it (Driver.HandBack) and every change since.
	EventHandedBack
)

// String returns the kind's name, as "in-sync".
func (k EventKind) String() string {
	switch k {
	case EventResync:
		return "resync"
	case EventBulkStart:
		return "bulk-start"
	case EventBulkDone:
		return "bulk-done"
	case EventBulkOverdue:
		return "bulk-overdue"
	case EventInSync:
		return "in-sync"
	case EventOutOfSync:
		return "out-of-sync"
	case EventHandedBack:
		return "handed-back"
	}
	return fmt.Sprintf("event(%d)", uint8(k))
}

// Side says which half of a replication stream an Event comes from.
type Side uint8

// The sides. The zero Side is invalid.
const (
	// SideSender: a Sender (the unit that owns the sessions).
	SideSender Side = 1
	// SideReceiver: a Receiver (a unit that mirrors them).
	SideReceiver Side = 2
)

// String returns "sender" or "receiver".
func (s Side) String() string {
	switch s {
	case SideSender:
		return "sender"
	case SideReceiver:
		return "receiver"
	}
	return fmt.Sprintf("side(%d)", uint8(s))
}

// Event is something a Sender or Receiver reports: its Events method
// returns them, and a Driver hands them to DriverConfig.OnEvent.
type Event struct {
	// Kind says what happened.
	Kind EventKind
	// Side says whether the Sender or the Receiver reports it.
	Side Side
	// Peer is the unit ID of the peer the stream goes to or comes from
	// (set by a Driver; 0 on an unnamed point-to-point link).
	Peer uint16
	// Reason explains EventResync and EventOutOfSync.
	Reason string
	// Epoch is the stream the event belongs to.
	Epoch uint64
	// Sent and Total give the bulk sync's progress.
	Sent, Total uint64
}

// String formats the event for logs.
func (e Event) String() string {
	s := fmt.Sprintf("%v %v epoch=%d", e.Side, e.Kind, e.Epoch)
	if e.Peer != 0 {
		s += fmt.Sprintf(" peer=%d", e.Peer)
	}
	if e.Reason != "" {
		s += " reason=" + e.Reason
	}
	if e.Total != 0 || e.Sent != 0 {
		s += fmt.Sprintf(" progress=%d/%d", e.Sent, e.Total)
	}
	return s
}

// maxEvents bounds the events a core keeps until its caller takes them;
// older ones are dropped and counted.
const maxEvents = 1024

// events logs a core's events and keeps them for its Events method.
type events struct {
	side    Side
	log     *slog.Logger
	pending []Event
	dropped uint64
}

func (e *events) emit(ev Event) {
	ev.Side = e.side
	if e.log != nil {
		lvl := slog.LevelInfo
		switch ev.Kind {
		case EventResync, EventBulkOverdue, EventOutOfSync:
			lvl = slog.LevelWarn
		}
		if e.log.Enabled(context.Background(), lvl) {
			e.log.Log(context.Background(), lvl, "statesync: "+e.side.String()+" "+ev.Kind.String(),
				"epoch", ev.Epoch, "reason", ev.Reason, "sent", ev.Sent, "total", ev.Total)
		}
	}
	if len(e.pending) == maxEvents {
		copy(e.pending, e.pending[1:])
		e.pending = e.pending[:maxEvents-1]
		e.dropped++
	}
	e.pending = append(e.pending, ev)
}

// take appends the pending events to dst and forgets them.
func (e *events) take(dst []Event) []Event {
	dst = append(dst, e.pending...)
	clear(e.pending)
	e.pending = e.pending[:0]
	return dst
}

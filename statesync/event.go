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
)

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
	}
	return fmt.Sprintf("event(%d)", uint8(k))
}

// Event is something a Sender or Receiver reports through its OnEvent
// callback.
type Event struct {
	// Kind says what happened.
	Kind EventKind
	// Reason explains EventResync and EventOutOfSync.
	Reason string
	// Epoch is the stream the event belongs to.
	Epoch uint64
	// Sent and Total give the bulk sync's progress.
	Sent, Total uint64
}

func (e Event) String() string {
	s := fmt.Sprintf("%v epoch=%d", e.Kind, e.Epoch)
	if e.Reason != "" {
		s += " reason=" + e.Reason
	}
	if e.Total != 0 || e.Sent != 0 {
		s += fmt.Sprintf(" progress=%d/%d", e.Sent, e.Total)
	}
	return s
}

// emitter delivers events to the callback and the logger.
type emitter struct {
	on  func(Event)
	log *slog.Logger
}

func (e *emitter) emit(ev Event, who string) {
	if e.log != nil {
		lvl := slog.LevelInfo
		switch ev.Kind {
		case EventResync, EventBulkOverdue, EventOutOfSync:
			lvl = slog.LevelWarn
		}
		if e.log.Enabled(context.Background(), lvl) {
			e.log.Log(context.Background(), lvl, "statesync: "+who+" "+ev.Kind.String(),
				"epoch", ev.Epoch, "reason", ev.Reason, "sent", ev.Sent, "total", ev.Total)
		}
	}
	if e.on != nil {
		e.on(ev)
	}
}

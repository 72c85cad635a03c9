package notify

import (
	"encoding/json"
	"net/http"
	"sync"

	"github.com/hakit/hakit/election/member"
)

// StreamConfig configures a Stream. A nil *StreamConfig means the
// defaults.
type StreamConfig struct {
	// Cluster and Unit are this unit's, for the records.
	Cluster, Unit uint16
	// Buffer is how many records may wait for a subscriber that is
	// behind; more are lost, and a record of kind "lost" counting them
	// comes before the next one it gets. Zero means 256 (at least 2).
	Buffer int
	// MaxSubscribers caps the subscribers at once; one more is refused
	// with 503 Service Unavailable. Zero means 64.
	MaxSubscribers int
	// Filter chooses the events streamed; nil means Notable.
	Filter func(member.Event) bool
}

// Stream is an http.Handler that streams events as newline-delimited JSON
// (one Record a line, Content-Type application/x-ndjson) to every client
// from when it connects until it leaves or the Stream closes. Its methods
// are safe for concurrent use.
type Stream struct {
	cfg    StreamConfig
	mu     sync.Mutex
	subs   map[*subscriber]struct{}
	closed bool
	done   chan struct{}
}

type subscriber struct {
	ch   chan Record
	lost uint64 // events lost since the last one sent; guarded by Stream.mu
}

// NewStream returns a Stream.
func NewStream(cfg *StreamConfig) *Stream {
	var c StreamConfig
	if cfg != nil {
		c = *cfg
	}
	if c.Buffer <= 0 {
		c.Buffer = 256
	}
	c.Buffer = max(c.Buffer, 2)
	if c.MaxSubscribers <= 0 {
		c.MaxSubscribers = 64
	}
	if c.Filter == nil {
		c.Filter = Notable
	}
	return &Stream{cfg: c, subs: map[*subscriber]struct{}{}, done: make(chan struct{})}
}

// Observe sends e to every subscriber if the filter takes it, and returns
// at once: a subscriber whose buffer is full loses it.
func (s *Stream) Observe(e member.Event) {
	if !s.cfg.Filter(e) {
		return
	}
	r := NewRecord(s.cfg.Cluster, s.cfg.Unit, e)
	s.mu.Lock()
	defer s.mu.Unlock()
	for sub := range s.subs {
		// Only Observe sends, under s.mu, and the reader only takes: the
		// room seen here is there.
		room := cap(sub.ch) - len(sub.ch)
		switch {
		case sub.lost > 0 && room >= 2:
			sub.ch <- Record{Time: r.Time, Kind: "lost", Cluster: r.Cluster, Unit: r.Unit, Lost: sub.lost}
			sub.ch <- r
			sub.lost = 0
		case sub.lost == 0 && room >= 1:
			sub.ch <- r
		default:
			sub.lost++
		}
	}
}

// Subscribers returns the number of clients connected.
func (s *Stream) Subscribers() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.subs)
}

// Close ends every subscriber's stream; later requests get 503. It is
// idempotent.
func (s *Stream) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.closed = true
		close(s.done)
	}
}

// ServeHTTP streams the events to the client.
func (s *Stream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	sub := &subscriber{ch: make(chan Record, s.cfg.Buffer)}
	s.mu.Lock()
	full := s.closed || len(s.subs) >= s.cfg.MaxSubscribers
	if !full {
		s.subs[sub] = struct{}{}
	}
	s.mu.Unlock()
	if full {
		http.Error(w, "event stream closed or too many subscribers", http.StatusServiceUnavailable)
		return
	}
	defer func() {
		s.mu.Lock()
		delete(s.subs, sub)
		s.mu.Unlock()
	}()
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	if rc.Flush() != nil {
		return
	}
	enc := json.NewEncoder(w)
	for {
		select {
		case rec := <-sub.ch:
			if enc.Encode(rec) != nil || rc.Flush() != nil {
				return
			}
		case <-r.Context().Done():
			return
		case <-s.done:
			return
		}
	}
}

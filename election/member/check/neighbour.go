package check

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"github.com/hakit/hakit"
	"github.com/hakit/hakit/heartbeat"
)

// Neighbour checks that a neighbour on one interface, typically the
// upstream gateway, answers: each run sends it an ARP request (IPv4) or a
// neighbour solicitation (IPv6) and passes when it answers before the run
// ends (FortiGate's remote link failover). A run that hears nothing sends
// again every RetryInterval.
type Neighbour struct {
	p      heartbeat.Prober
	target netip.Addr

	mu    sync.Mutex
	heard chan struct{} // closed and replaced when the target answers
	err   error         // the reader's, once it stopped
	done  chan struct{}
}

// RetryInterval is how often a run of Neighbour.Probe asks again while the
// neighbour has not answered.
const RetryInterval = 200 * time.Millisecond

// NewNeighbour returns the check of target through p: heartbeat.NewProber
// on the interface (Linux), or any heartbeat.Prober. The check owns p:
// Close closes it.
func NewNeighbour(p heartbeat.Prober, target netip.Addr) (*Neighbour, error) {
	target = target.Unmap()
	if p == nil || !target.IsValid() || target.IsUnspecified() || target.IsMulticast() {
		if p != nil {
			p.Close()
		}
		return nil, fmt.Errorf("check: neighbour %v: want a prober and a unicast address: %w", target, hakit.ErrConfig)
	}
	n := &Neighbour{p: p, target: target, heard: make(chan struct{}), done: make(chan struct{})}
	go n.read()
	return n, nil
}

func (n *Neighbour) read() {
	defer close(n.done)
	for {
		a, err := n.p.ReadReply()
		if err != nil {
			n.mu.Lock()
			n.err = err
			close(n.heard)
			n.mu.Unlock()
			return
		}
		if a.Unmap().WithZone("") == n.target {
			n.mu.Lock()
			close(n.heard)
			n.heard = make(chan struct{})
			n.mu.Unlock()
		}
	}
}

// Probe asks the neighbour once (again every RetryInterval) and returns nil
// when it answers before ctx ends.
func (n *Neighbour) Probe(ctx context.Context) error {
	retry := time.NewTicker(RetryInterval)
	defer retry.Stop()
	for {
		n.mu.Lock()
		heard, err := n.heard, n.err
		n.mu.Unlock()
		if err != nil {
			return fmt.Errorf("neighbour %v: %w", n.target, err)
		}
		if err := n.p.Probe(n.target); err != nil {
			return err
		}
		select {
		case <-heard:
			n.mu.Lock()
			err := n.err
			n.mu.Unlock()
			if err != nil {
				return fmt.Errorf("neighbour %v: %w", n.target, err)
			}
			return nil
		case <-retry.C:
		case <-ctx.Done():
			return fmt.Errorf("no answer from %v", n.target)
		}
	}
}

// Close closes the prober and waits for its reader.
func (n *Neighbour) Close() error {
	err := n.p.Close()
	<-n.done
	if errors.Is(err, heartbeat.ErrClosed) {
		err = nil
	}
	return err
}

package member

import (
	"context"
	"errors"
	"fmt"

	"github.com/hakit/hakit/garp"
	"github.com/hakit/hakit/vmac"
)

// Step is one part of the takeover: what a unit brings up when it becomes
// primary and takes down again when it stops being primary.
//
// The contract, which the Machine relies on:
//
//   - Up either succeeds or leaves nothing half done: a step that makes
//     several changes undoes the ones it made before returning an error
//     (vmac.Apply is all or nothing already). The Machine then takes down
//     every step before it, in reverse order, and tries the takeover again
//     after a backoff.
//   - Down undoes Up. It is called only after a successful Up. A Down that
//     fails is reported and counted, and the steps before it still go down.
//   - Up and Down of the steps of one unit never run concurrently: the
//     Machine hands out one at a time, and the Driver runs them in order.
//
// ctx ends when the step must give up (the Driver's step timeout, or Close
// during an Up).
type Step interface {
	// Name names the step in events, logs and status, for example
	// "addresses".
	Name() string
	// Up brings the step up.
	Up(ctx context.Context) error
	// Down takes it down again.
	Down(ctx context.Context) error
}

// Reannouncer is implemented by a step that tells the network where the
// addresses are (gratuitous ARP, a cloud route). After this unit has won a
// split brain, the Machine asks every such step that is up to announce
// again: while both units were primary, the switches may have learnt the
// loser's port. The first Reannouncer step to come up also marks the
// takeover's "announced" phase.
type Reannouncer interface {
	Step
	// Reannounce announces again what Up announced.
	Reannounce(ctx context.Context) error
}

// Func returns a Step named name whose Up and Down call up and down; a nil
// function does nothing and succeeds. up must honour the Step contract:
// on error, nothing it did is left behind.
func Func(name string, up, down func(ctx context.Context) error) Step {
	return funcStep{name: name, up: up, down: down}
}

type funcStep struct {
	name     string
	up, down func(context.Context) error
}

func (s funcStep) Name() string { return s.name }

func (s funcStep) Up(ctx context.Context) error {
	if s.up == nil {
		return nil
	}
	return s.up(ctx)
}

func (s funcStep) Down(ctx context.Context) error {
	if s.down == nil {
		return nil
	}
	return s.down(ctx)
}

// Addresses returns the Step named "addresses" that puts the virtual MACs
// and addresses on the interfaces: Up is vmac.Apply(takeovers...), all or
// nothing; Down releases what Up applied (Handle.Release: the addresses
// removed, the interfaces' own MACs back).
func Addresses(takeovers ...vmac.Takeover) Step {
	return &addresses{takeovers: takeovers}
}

type addresses struct {
	takeovers []vmac.Takeover
	held      *vmac.Handle
}

func (a *addresses) Name() string { return "addresses" }

func (a *addresses) Up(context.Context) error {
	h, err := vmac.Apply(a.takeovers...)
	if err != nil {
		return err
	}
	a.held = h
	return nil
}

func (a *addresses) Down(context.Context) error {
	h := a.held
	a.held = nil
	return h.Release()
}

// Announce returns the Step named "announce" that tells the network the
// addresses moved here: Up announces every move with a (a garp.Speaker
// sends gratuitous ARP and neighbour advertisements; a cloud announcer
// updates a route), all or nothing; Down withdraws them in reverse order; after a split brain
// won, Reannounce announces them again.
func Announce(a garp.Announcer, moves ...garp.Move) Step {
	return &announce{a: a, moves: moves}
}

type announce struct {
	a     garp.Announcer
	moves []garp.Move
}

func (s *announce) Name() string { return "announce" }

func (s *announce) Up(ctx context.Context) error {
	for i, m := range s.moves {
		if err := s.a.Announce(ctx, m); err != nil {
			err = fmt.Errorf("announce on %s: %w", m.Interface, err)
			if werr := s.withdraw(context.WithoutCancel(ctx), i); werr != nil {
				err = errors.Join(err, werr)
			}
			return err
		}
	}
	return nil
}

func (s *announce) Down(ctx context.Context) error { return s.withdraw(ctx, len(s.moves)) }

// withdraw withdraws the first n moves, last first.
func (s *announce) withdraw(ctx context.Context, n int) error {
	var errs []error
	for i := n - 1; i >= 0; i-- {
		if err := s.a.Withdraw(ctx, s.moves[i]); err != nil {
			errs = append(errs, fmt.Errorf("withdraw on %s: %w", s.moves[i].Interface, err))
		}
	}
	return errors.Join(errs...)
}

func (s *announce) Reannounce(ctx context.Context) error {
	var errs []error
	for _, m := range s.moves {
		if err := s.a.Announce(ctx, m); err != nil {
			errs = append(errs, fmt.Errorf("announce on %s: %w", m.Interface, err))
		}
	}
	return errors.Join(errs...)
}

var (
	_ Reannouncer = (*announce)(nil)
	_ Step        = (*addresses)(nil)
	_ Step        = funcStep{}
)

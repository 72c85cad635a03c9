package kube

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	typedcoordinationv1 "k8s.io/client-go/kubernetes/typed/coordination/v1"

	"github.com/hakit/hakit"
	"github.com/hakit/hakit/election/witness"
)

// New returns a Witness for unit on the Lease called name, through leases
// (clientset.CoordinationV1().Leases(namespace)): witness.New on NewStore,
// both on cfg's clock. cfg configures the Driver (nil: defaults).
func New(leases typedcoordinationv1.LeaseInterface, name string, unit uint16, cfg *witness.Config) (*witness.Driver, error) {
	var clk hakit.Clock
	if cfg != nil {
		clk = cfg.Clock
	}
	s, err := NewStore(leases, name, unit, clk)
	if err != nil {
		return nil, err
	}
	return witness.New(s, cfg)
}

// Store is unit's handle on the Lease. Its methods are safe for concurrent
// use; a Driver calls one at a time.
type Store struct {
	leases typedcoordinationv1.LeaseInterface
	name   string
	unit   uint16
	id     string
	now    func() time.Time

	mu     sync.Mutex
	token  int32 // leaseTransitions of this Store's tenure, 0 for none
	seenRV string
	seenAt time.Time // when seenRV was first seen: the holder renewed before then
}

var _ witness.Store = (*Store)(nil)

// NewStore returns unit's Store for the Lease called name. Every unit of a
// cluster uses the same Lease, and no other cluster may use it. clk must be
// the Driver's clock (nil: the real clock).
func NewStore(leases typedcoordinationv1.LeaseInterface, name string, unit uint16, clk hakit.Clock) (*Store, error) {
	switch {
	case leases == nil:
		return nil, fmt.Errorf("witness: kube: nil lease client: %w", hakit.ErrConfig)
	case name == "":
		return nil, fmt.Errorf("witness: kube: empty lease name: %w", hakit.ErrConfig)
	case unit == 0:
		return nil, fmt.Errorf("witness: kube: unit ID 0: %w", hakit.ErrConfig)
	}
	s := &Store{leases: leases, name: name, unit: unit, id: strconv.Itoa(int(unit)), now: time.Now}
	if clk != nil {
		s.now = clk.Now
	}
	return s, nil
}

// Acquire reads the Lease and takes it when it is free: absent, released,
// or not renewed for its leaseDurationSeconds since this Store first saw
// its current version. Taking it is an update conditional on the version
// read (or a create), so of two units taking it at once one fails.
func (s *Store) Acquire(ctx context.Context, ttl time.Duration) (witness.Lease, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for try := 0; ; try++ {
		l, err := s.leases.Get(ctx, s.name, metav1.GetOptions{})
		now := s.now()
		switch {
		case apierrors.IsNotFound(err):
			l = &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: s.name}}
			s.take(l, now, ttl)
			l, err = s.leases.Create(ctx, l, metav1.CreateOptions{})
		case err != nil:
			return witness.Lease{}, s.fail("acquire", err)
		case s.mine(l):
			renew(l, now, ttl)
			l, err = s.leases.Update(ctx, l, metav1.UpdateOptions{})
		case s.free(l, now, ttl):
			s.take(l, now, ttl)
			l, err = s.leases.Update(ctx, l, metav1.UpdateOptions{})
		default:
			return s.other(l), nil
		}
		switch {
		case err == nil:
			s.token = transitions(l)
			return s.lease(l), nil
		case (apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err)) && try == 0:
			continue // written meanwhile: read it again
		}
		// s.token is the tenure the write would have begun: if it was
		// applied after all, the next Acquire recognises it as this
		// Store's instead of waiting it out.
		return witness.Lease{}, s.fail("acquire", err)
	}
}

// Renew writes a new renewTime, if the Lease is still this Store's tenure.
func (s *Store) Renew(ctx context.Context, ttl time.Duration) (witness.Lease, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for try := 0; ; try++ {
		if s.token == 0 {
			return witness.Lease{}, fmt.Errorf("witness: kube: renew %s: no tenure: %w", s.name, witness.ErrLost)
		}
		l, err := s.leases.Get(ctx, s.name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			s.token = 0
			return witness.Lease{}, fmt.Errorf("witness: kube: lease %s was deleted: %w", s.name, witness.ErrLost)
		case err != nil:
			return witness.Lease{}, s.fail("renew", err)
		case !s.mine(l):
			s.token = 0
			return s.other(l), fmt.Errorf("witness: kube: lease %s was taken by %q: %w", s.name, holder(l), witness.ErrLost)
		}
		renew(l, s.now(), ttl)
		l, err = s.leases.Update(ctx, l, metav1.UpdateOptions{})
		switch {
		case err == nil:
			return s.lease(l), nil
		case apierrors.IsConflict(err) && try == 0:
			continue
		}
		return witness.Lease{}, s.fail("renew", err)
	}
}

// Release clears the holder, keeping leaseTransitions, if the Lease is
// still this Store's tenure.
func (s *Store) Release(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for try := 0; s.token != 0; try++ {
		l, err := s.leases.Get(ctx, s.name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			s.token = 0
			return nil
		case err != nil:
			return s.fail("release", err)
		case !s.mine(l):
			s.token = 0
			return nil
		}
		l.Spec.HolderIdentity = nil
		l.Spec.LeaseDurationSeconds = ptr(int32(1))
		l.Spec.RenewTime = ptr(metav1.NewMicroTime(s.now()))
		_, err = s.leases.Update(ctx, l, metav1.UpdateOptions{})
		switch {
		case err == nil:
			s.token = 0
			return nil
		case apierrors.IsConflict(err) && try == 0:
			continue
		}
		return s.fail("release", err)
	}
	return nil
}

// mine reports whether l is this Store's tenure.
func (s *Store) mine(l *coordinationv1.Lease) bool {
	return s.token != 0 && holder(l) == s.id && transitions(l) == s.token
}

// free reports whether l can be taken at now. Another holder's lease is
// judged by this unit's own clock, never by the timestamps in it (clocks
// of different machines differ): it is expired once its version has not
// changed for its leaseDurationSeconds since this Store first saw that
// version. The holder's last renewal happened before that, so the holder
// itself gave the lease up at least its margin before.
func (s *Store) free(l *coordinationv1.Lease, now time.Time, ttl time.Duration) bool {
	if holder(l) == "" {
		return true
	}
	if l.ResourceVersion != s.seenRV {
		s.seenRV, s.seenAt = l.ResourceVersion, now
		return false
	}
	d := ttl // a Lease without a duration: as long as ours
	if l.Spec.LeaseDurationSeconds != nil && *l.Spec.LeaseDurationSeconds > 0 {
		d = time.Duration(*l.Spec.LeaseDurationSeconds) * time.Second
	}
	return now.Sub(s.seenAt) >= d
}

// take makes l this unit's, as a new tenure, and records the tenure's
// token (the write may still fail).
func (s *Store) take(l *coordinationv1.Lease, now time.Time, ttl time.Duration) {
	s.token = transitions(l) + 1
	l.Spec.HolderIdentity = ptr(s.id)
	l.Spec.AcquireTime = ptr(metav1.NewMicroTime(now))
	l.Spec.LeaseTransitions = ptr(s.token)
	renew(l, now, ttl)
}

func renew(l *coordinationv1.Lease, now time.Time, ttl time.Duration) {
	l.Spec.RenewTime = ptr(metav1.NewMicroTime(now))
	l.Spec.LeaseDurationSeconds = ptr(int32((ttl + time.Second - 1) / time.Second))
}

func (s *Store) lease(l *coordinationv1.Lease) witness.Lease {
	return witness.Lease{Mine: true, Holder: s.unit, Identity: s.id, Token: uint64(transitions(l))}
}

func (s *Store) other(l *coordinationv1.Lease) witness.Lease {
	w := witness.Lease{Identity: holder(l)}
	if w.Identity == "" {
		return witness.Lease{}
	}
	w.Token = uint64(transitions(l))
	if u, err := strconv.ParseUint(w.Identity, 10, 16); err == nil {
		w.Holder = uint16(u)
	}
	return w
}

func (s *Store) fail(op string, err error) error {
	return fmt.Errorf("witness: kube: %s %s: %w", op, s.name, err)
}

func holder(l *coordinationv1.Lease) string {
	if l.Spec.HolderIdentity == nil {
		return ""
	}
	return *l.Spec.HolderIdentity
}

func transitions(l *coordinationv1.Lease) int32 {
	if l.Spec.LeaseTransitions == nil {
		return 0
	}
	return *l.Spec.LeaseTransitions
}

func ptr[T any](v T) *T { return &v }

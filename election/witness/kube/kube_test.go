package kube_test

import (
	"context"
	"errors"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"
	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	typedcoordinationv1 "k8s.io/client-go/kubernetes/typed/coordination/v1"
	k8stesting "k8s.io/client-go/testing"

	"github.com/hakit/hakit"
	"github.com/hakit/hakit/election/witness"
	"github.com/hakit/hakit/election/witness/kube"
)

const (
	namespace = "hakit"
	name      = "cluster-7"
)

var leasesGVR = coordinationv1.SchemeGroupVersion.WithResource("leases")

// newAPIServer returns a fake clientset that also does what a real API
// server does for Leases and the fake does not: it gives every write a new
// resourceVersion, and fails an update whose resourceVersion is not the
// stored one with a Conflict.
func newAPIServer() *fake.Clientset {
	cs := fake.NewClientset()
	var mu sync.Mutex
	rv := 0
	write := func(a k8stesting.Action, update bool) (bool, runtime.Object, error) {
		mu.Lock()
		defer mu.Unlock()
		var l *coordinationv1.Lease
		if update {
			l = a.(k8stesting.UpdateAction).GetObject().(*coordinationv1.Lease).DeepCopy()
			cur, err := cs.Tracker().Get(leasesGVR, a.GetNamespace(), l.Name)
			if err != nil {
				return true, nil, err
			}
			if l.ResourceVersion != "" && l.ResourceVersion != cur.(*coordinationv1.Lease).ResourceVersion {
				return true, nil, apierrors.NewConflict(leasesGVR.GroupResource(), l.Name, errors.New("the object has been modified"))
			}
		} else {
			l = a.(k8stesting.CreateAction).GetObject().(*coordinationv1.Lease).DeepCopy()
		}
		rv++
		l.ResourceVersion = strconv.Itoa(rv)
		var err error
		if update {
			err = cs.Tracker().Update(leasesGVR, l, a.GetNamespace())
		} else {
			err = cs.Tracker().Create(leasesGVR, l, a.GetNamespace())
		}
		if err != nil {
			return true, nil, err
		}
		return true, l.DeepCopy(), nil
	}
	cs.PrependReactor("create", "leases", func(a k8stesting.Action) (bool, runtime.Object, error) { return write(a, false) })
	cs.PrependReactor("update", "leases", func(a k8stesting.Action) (bool, runtime.Object, error) { return write(a, true) })
	return cs
}

// cuttable is one unit's path to the API server, which the test can cut.
type cuttable struct {
	typedcoordinationv1.LeaseInterface
	cut atomic.Bool
}

var errRefused = &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}

func (c *cuttable) Get(ctx context.Context, n string, o metav1.GetOptions) (*coordinationv1.Lease, error) {
	if c.cut.Load() {
		return nil, errRefused
	}
	return c.LeaseInterface.Get(ctx, n, o)
}

func (c *cuttable) Create(ctx context.Context, l *coordinationv1.Lease, o metav1.CreateOptions) (*coordinationv1.Lease, error) {
	if c.cut.Load() {
		return nil, errRefused
	}
	return c.LeaseInterface.Create(ctx, l, o)
}

func (c *cuttable) Update(ctx context.Context, l *coordinationv1.Lease, o metav1.UpdateOptions) (*coordinationv1.Lease, error) {
	if c.cut.Load() {
		return nil, errRefused
	}
	return c.LeaseInterface.Update(ctx, l, o)
}

func testConfig() *witness.Config {
	return &witness.Config{TTL: 2 * time.Second, Interval: 250 * time.Millisecond, Margin: 500 * time.Millisecond}
}

type unit struct {
	w    *witness.Driver
	path *cuttable
}

func newUnit(t *testing.T, cs *fake.Clientset, id uint16) *unit {
	t.Helper()
	p := &cuttable{LeaseInterface: cs.CoordinationV1().Leases(namespace)}
	w, err := kube.New(p, name, id, testConfig())
	require.NoError(t, err)
	t.Cleanup(func() { w.Close() })
	return &unit{w: w, path: p}
}

func settle(dt time.Duration) {
	time.Sleep(dt)
	synctest.Wait()
}

func stored(t *testing.T, cs *fake.Clientset) *coordinationv1.Lease {
	t.Helper()
	l, err := cs.CoordinationV1().Leases(namespace).Get(context.Background(), name, metav1.GetOptions{})
	require.NoError(t, err)
	return l
}

func TestContention(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cs := newAPIServer()
		a, b := newUnit(t, cs, 1), newUnit(t, cs, 2)
		ctx := context.Background()
		s, err := a.w.Acquire(ctx)
		require.NoError(t, err)
		require.True(t, s.Held)
		require.Equal(t, uint64(1), s.Token)
		s, err = b.w.Acquire(ctx)
		require.NoError(t, err)
		require.False(t, s.Held)
		require.Equal(t, uint16(1), s.Holder)
		require.Equal(t, "lease held by unit 1 (token 1)", s.Reason)

		l := stored(t, cs)
		require.Equal(t, "1", *l.Spec.HolderIdentity)
		require.Equal(t, int32(1), *l.Spec.LeaseTransitions)
		require.Equal(t, int32(2), *l.Spec.LeaseDurationSeconds)

		for range 240 { // a minute
			settle(250 * time.Millisecond)
			require.False(t, b.w.Status().Held)
			require.True(t, a.w.Status().Held)
		}
		require.Zero(t, a.w.Counters().Lost+a.w.Counters().Expired)

		require.NoError(t, a.w.Release(ctx))
		require.Nil(t, stored(t, cs).Spec.HolderIdentity)
		settle(250 * time.Millisecond)
		s = b.w.Status()
		require.True(t, s.Held, s.Reason)
		require.Equal(t, uint64(2), s.Token)
		l = stored(t, cs)
		require.Equal(t, "2", *l.Spec.HolderIdentity)
		require.Equal(t, int32(2), *l.Spec.LeaseTransitions)
	})
}

// Two units take a free Lease at the same instant: the conditional update
// lets exactly one of them have it.
func TestSimultaneous(t *testing.T) {
	for range 20 {
		synctest.Test(t, func(t *testing.T) {
			cs := newAPIServer()
			units := []*unit{newUnit(t, cs, 1), newUnit(t, cs, 2)}
			// A released Lease, so both go for the update.
			_, err := cs.CoordinationV1().Leases(namespace).Create(context.Background(), &coordinationv1.Lease{
				ObjectMeta: metav1.ObjectMeta{Name: name},
				Spec:       coordinationv1.LeaseSpec{LeaseTransitions: ptr(int32(5))},
			}, metav1.CreateOptions{})
			require.NoError(t, err)
			var wg sync.WaitGroup
			for _, u := range units {
				wg.Go(func() {
					_, err := u.w.Acquire(context.Background())
					require.NoError(t, err)
				})
			}
			wg.Wait()
			s1, s2 := units[0].w.Status(), units[1].w.Status()
			require.True(t, s1.Held != s2.Held, "%q, %q", s1.Reason, s2.Reason)
			winner := s1
			if s2.Held {
				winner = s2
			}
			require.Equal(t, uint64(6), winner.Token)
			require.Equal(t, winner.Holder, s1.Holder)
			require.Equal(t, winner.Holder, s2.Holder)
		})
	}
}

// The holder is cut off from the API server: it gives the Lease up at
// Until; the other unit, which saw its last renewal, takes it no earlier
// than Until + Margin, with a larger token.
func TestStaleHolder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cs := newAPIServer()
		a, b := newUnit(t, cs, 1), newUnit(t, cs, 2)
		ctx := context.Background()
		_, err := a.w.Acquire(ctx)
		require.NoError(t, err)
		_, err = b.w.Acquire(ctx)
		require.NoError(t, err)
		settle(time.Second)

		cut := time.Now()
		a.path.cut.Store(true)
		until := a.w.Status().Until
		require.Equal(t, cut.Add(1500*time.Millisecond), until, "renewed at the cut: in the bubble, timers fire on time")
		for !b.w.Status().Held {
			require.False(t, a.w.Status().Held && time.Now().After(until.Add(-time.Nanosecond)))
			require.Less(t, time.Since(cut), 10*time.Second)
			settle(10 * time.Millisecond)
		}
		bs, as := b.w.Status(), a.w.Status()
		require.False(t, as.Held)
		require.False(t, as.Reachable)
		require.Contains(t, as.Reason, "lease given up (token 1)")
		require.False(t, bs.Since.Before(until.Add(500*time.Millisecond)), "B took over %v after A's bound", bs.Since.Sub(until))
		require.Less(t, bs.Since.Sub(until), time.Second)
		require.Equal(t, uint64(2), bs.Token)

		a.path.cut.Store(false)
		settle(time.Second)
		as = a.w.Status()
		require.True(t, as.Reachable)
		require.False(t, as.Held)
		require.Equal(t, "lease held by unit 2 (token 2)", as.Reason)
	})
}

// The API server is unreachable for longer than the lease allows, then
// back: the unit takes the Lease again as a new tenure.
func TestAPIServerDown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cs := newAPIServer()
		a := newUnit(t, cs, 1)
		_, err := a.w.Acquire(context.Background())
		require.NoError(t, err)
		a.path.cut.Store(true)
		settle(250 * time.Millisecond)
		require.False(t, a.w.Status().Reachable)
		require.True(t, a.w.Status().Held)
		settle(5 * time.Second)
		require.False(t, a.w.Status().Held)
		a.path.cut.Store(false)
		settle(500 * time.Millisecond)
		s := a.w.Status()
		require.True(t, s.Held, s.Reason)
		require.Equal(t, uint64(2), s.Token)
	})
}

// A Lease held by something else is taken only once it stops renewing, and
// then after its own duration, measured by the unit's clock.
func TestForeignHolder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cs := newAPIServer()
		leases := cs.CoordinationV1().Leases(namespace)
		ctx := context.Background()
		l, err := leases.Create(ctx, &coordinationv1.Lease{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr("backup-job"),
				LeaseDurationSeconds: ptr(int32(10)), LeaseTransitions: ptr(int32(41))},
		}, metav1.CreateOptions{})
		require.NoError(t, err)
		a := newUnit(t, cs, 1)
		s, err := a.w.Acquire(ctx)
		require.NoError(t, err)
		require.Equal(t, `lease held by "backup-job", not a unit of this cluster (token 41)`, s.Reason)
		// Renewed every 5 s for 30 s: never taken.
		for range 6 {
			settle(5 * time.Second)
			require.False(t, a.w.Status().Held)
			l.Spec.RenewTime = ptr(metav1.NewMicroTime(time.Now()))
			l, err = leases.Update(ctx, l, metav1.UpdateOptions{})
			require.NoError(t, err)
		}
		stopped := time.Now()
		for !a.w.Status().Held {
			settle(10 * time.Millisecond)
		}
		waited := time.Since(stopped)
		require.GreaterOrEqual(t, waited, 10*time.Second)
		require.LessOrEqual(t, waited, 10*time.Second+300*time.Millisecond)
		require.Equal(t, uint64(42), a.w.Status().Token)
	})
}

func TestNewStore(t *testing.T) {
	leases := fake.NewClientset().CoordinationV1().Leases(namespace)
	for _, tc := range []struct {
		l    typedcoordinationv1.LeaseInterface
		name string
		unit uint16
	}{{nil, name, 1}, {leases, "", 1}, {leases, name, 0}} {
		_, err := kube.NewStore(tc.l, tc.name, tc.unit, nil)
		require.ErrorIs(t, err, hakit.ErrConfig)
	}
	_, err := kube.New(leases, name, 1, &witness.Config{TTL: time.Second})
	require.ErrorIs(t, err, hakit.ErrConfig)
}

func ptr[T any](v T) *T { return &v }

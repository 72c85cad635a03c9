package etcd

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/hakit/hakit"
	"github.com/hakit/hakit/election/witness"
)

// New returns a Witness for unit on the etcd key key, through client:
// witness.New on NewStore. cfg configures the Driver (nil: defaults).
func New(client *clientv3.Client, key string, unit uint16, cfg *witness.Config) (*witness.Driver, error) {
	s, err := NewStore(client, key, unit)
	if err != nil {
		return nil, err
	}
	return witness.New(s, cfg)
}

// Store is unit's handle on the lease: the key, holding the unit's ID in
// decimal, attached to an etcd lease of this Store while the unit holds
// it. Its methods are safe for concurrent use; a Driver calls one at a time.
type Store struct {
	client *clientv3.Client
	key    string
	unit   uint16
	value  string

	mu    sync.Mutex
	lease clientv3.LeaseID // this Store's etcd lease, 0 for none
	token int64            // the key's create revision in this Store's tenure, 0 for none
	seen  int64            // the store revision at which Acquire last saw the key held by another
}

var (
	_ witness.Store  = (*Store)(nil)
	_ witness.Waiter = (*Store)(nil)
)

// NewStore returns unit's Store for key. Every unit of a cluster uses the
// same key, and no other cluster may use it: derive it from the cluster's
// identity ("/hakit/cluster-7/lease").
func NewStore(client *clientv3.Client, key string, unit uint16) (*Store, error) {
	switch {
	case client == nil:
		return nil, fmt.Errorf("witness: etcd: nil client: %w", hakit.ErrConfig)
	case key == "":
		return nil, fmt.Errorf("witness: etcd: empty key: %w", hakit.ErrConfig)
	case unit == 0:
		return nil, fmt.Errorf("witness: etcd: unit ID 0: %w", hakit.ErrConfig)
	}
	return &Store{client: client, key: key, unit: unit, value: strconv.Itoa(int(unit))}, nil
}

// Acquire refreshes this Store's etcd lease (granting one for ttl when it
// has none or it expired), then, in one transaction, creates the key on it
// if the key is absent, or else reads the key. The key is this Store's when
// it is attached to this Store's lease.
func (s *Store) Acquire(ctx context.Context, ttl time.Duration) (witness.Lease, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.refresh(ctx, ttl); err != nil {
		return witness.Lease{}, err
	}
	resp, err := s.client.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(s.key), "=", 0)).
		Then(clientv3.OpPut(s.key, s.value, clientv3.WithLease(s.lease))).
		Else(clientv3.OpGet(s.key)).
		Commit()
	if err != nil {
		return witness.Lease{}, s.fail("acquire", err)
	}
	if resp.Succeeded {
		// The put created the key: its create revision is the
		// transaction's revision.
		s.token = resp.Header.Revision
		return s.mine(), nil
	}
	kvs := resp.Responses[0].GetResponseRange().GetKvs()
	if len(kvs) == 0 { // deleted between the compare and the get: cannot happen in one transaction
		return witness.Lease{}, fmt.Errorf("witness: etcd: acquire %s: key vanished in a transaction", s.key)
	}
	kv := kvs[0]
	if clientv3.LeaseID(kv.Lease) == s.lease {
		s.token = kv.CreateRevision
		return s.mine(), nil
	}
	s.seen = resp.Header.Revision
	return other(kv), nil
}

// Renew refreshes this Store's etcd lease and checks that the key is still
// attached to it.
func (s *Store) Renew(ctx context.Context, ttl time.Duration) (witness.Lease, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lease == 0 || s.token == 0 {
		return witness.Lease{}, fmt.Errorf("witness: etcd: renew %s: no tenure: %w", s.key, witness.ErrLost)
	}
	if _, err := s.client.KeepAliveOnce(ctx, s.lease); err != nil {
		if errors.Is(err, rpctypes.ErrLeaseNotFound) {
			id := s.lease
			s.lease, s.token = 0, 0
			return witness.Lease{}, fmt.Errorf("witness: etcd: lease %x of %s expired at the server: %w", int64(id), s.key, witness.ErrLost)
		}
		return witness.Lease{}, s.fail("renew", err)
	}
	resp, err := s.client.Get(ctx, s.key)
	if err != nil {
		return witness.Lease{}, s.fail("renew", err)
	}
	if len(resp.Kvs) == 0 {
		s.token = 0
		return witness.Lease{}, fmt.Errorf("witness: etcd: key %s was deleted: %w", s.key, witness.ErrLost)
	}
	kv := resp.Kvs[0]
	if clientv3.LeaseID(kv.Lease) != s.lease || kv.CreateRevision != s.token {
		s.token = 0
		return other(kv), fmt.Errorf("witness: etcd: key %s was replaced: %w", s.key, witness.ErrLost)
	}
	return s.mine(), nil
}

// Release revokes this Store's etcd lease, which deletes the key if it is
// attached to it.
func (s *Store) Release(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lease == 0 {
		return nil
	}
	if _, err := s.client.Revoke(ctx, s.lease); err != nil && !errors.Is(err, rpctypes.ErrLeaseNotFound) {
		return s.fail("release", err)
	}
	s.lease, s.token = 0, 0
	return nil
}

// Wait watches the key from the revision at which Acquire last saw it held
// by another, and returns at the first change.
func (s *Store) Wait(ctx context.Context) bool {
	s.mu.Lock()
	rev := s.seen
	s.mu.Unlock()
	if rev == 0 {
		return false
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for resp := range s.client.Watch(ctx, s.key, clientv3.WithRev(rev+1)) {
		if resp.Err() != nil {
			return false
		}
		if len(resp.Events) > 0 {
			return true
		}
	}
	return false
}

// refresh makes sure this Store has an etcd lease that runs for at least
// ttl from now. It must be called with mu held.
func (s *Store) refresh(ctx context.Context, ttl time.Duration) error {
	if s.lease != 0 {
		_, err := s.client.KeepAliveOnce(ctx, s.lease)
		if err == nil {
			return nil
		}
		if !errors.Is(err, rpctypes.ErrLeaseNotFound) {
			return s.fail("acquire", err)
		}
		s.lease, s.token = 0, 0
	}
	seconds := int64((ttl + time.Second - 1) / time.Second)
	resp, err := s.client.Grant(ctx, seconds)
	if err != nil {
		return s.fail("acquire", err)
	}
	s.lease = resp.ID
	return nil
}

func (s *Store) mine() witness.Lease {
	return witness.Lease{Mine: true, Holder: s.unit, Identity: s.value, Token: uint64(s.token)}
}

func (s *Store) fail(op string, err error) error {
	return fmt.Errorf("witness: etcd: %s %s: %w", op, s.key, err)
}

// other describes the key held by another lease.
func other(kv *mvccpb.KeyValue) witness.Lease {
	l := witness.Lease{Identity: string(kv.Value), Token: uint64(kv.CreateRevision)}
	if u, err := strconv.ParseUint(l.Identity, 10, 16); err == nil {
		l.Holder = uint16(u)
	}
	return l
}

package heartbeat

import (
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/hakit/hakit"
)

// tagInfo names the cluster tag's derivation (see ClusterTag).
const tagInfo = "hakit cluster tag v1"

// ClusterTag returns the cluster tag that the frames of a cluster named name
// carry (Frame.ClusterTag) when they are sealed with the key whose secret
// is given, or unauthenticated when secret is nil: with a secret,
// HKDF-SHA256(secret, salt name, info "hakit cluster tag v1"), else
// SHA-256("hakit cluster tag v1" ‖ 0 ‖ name), truncated to 32 bits. So two
// clusters with one cluster ID have different tags when their keys differ
// or their names do; the tag tells nothing of the secret.
func ClusterTag(name string, secret []byte) uint32 {
	if secret == nil {
		h := sha256.New()
		h.Write([]byte(tagInfo))
		h.Write([]byte{0})
		h.Write([]byte(name))
		return binary.BigEndian.Uint32(h.Sum(nil))
	}
	b, err := hkdf.Key(sha256.New, secret, []byte(name), tagInfo, 4)
	if err != nil {
		panic("heartbeat: HKDF-SHA256 of 4 bytes: " + err.Error()) // unreachable: far below its limit
	}
	return binary.BigEndian.Uint32(b)
}

// clusterTags holds the tags of this cluster, one per key of the ring,
// rebuilt when the ring changes.
type clusterTags struct {
	name  string
	ring  *hakit.Keyring
	gen   uint64
	plain uint32 // unauthenticated frames
	keyed [256]uint32
	known [256]bool
}

func newClusterTags(name string, ring *hakit.Keyring) *clusterTags {
	t := &clusterTags{name: name, ring: ring, plain: ClusterTag(name, nil)}
	if ring != nil {
		t.rebuild()
	}
	return t
}

func (t *clusterTags) rebuild() {
	t.gen = t.ring.Generation()
	t.known = [256]bool{}
	for _, k := range t.ring.Keys() {
		t.keyed[k.ID] = ClusterTag(t.name, k.Secret)
		t.known[k.ID] = true
	}
}

// want returns the tag a frame of this cluster sealed with key id carries
// (id 0: unauthenticated), and false when this unit cannot tell: a key it
// does not hold, an unauthenticated frame while it has keys, or a key on a
// frame while it has none (authentication then drops the frame).
func (t *clusterTags) want(id uint8) (uint32, bool) {
	if t.ring == nil {
		return t.plain, id == 0
	}
	if t.ring.Generation() != t.gen {
		t.rebuild()
	}
	return t.keyed[id], id != 0 && t.known[id]
}

// CollisionKind says what showed another cluster using our cluster ID.
// The zero value is invalid.
type CollisionKind uint8

// The kinds of Collision.
const (
	// OtherTag: a frame of our cluster ID carries another cluster tag: a
	// cluster with another key or name. Its frames are dropped
	// (Drops.ClusterTag) and never reach the election, so neither cluster
	// changes a role because of the other.
	OtherTag CollisionKind = 1
	// OwnUnit: a frame of our cluster and tag, authentic, with this unit's
	// own ID but another epoch: another live unit uses our unit ID (a
	// cluster that copied our configuration and key, or a second unit
	// given our ID). Dropped (Drops.Own).
	OwnUnit CollisionKind = 2
	// TwoSources: frames of a peer's unit ID keep arriving from two epochs
	// at once, each sequence advancing: two live units send as that peer
	// (a cluster that copied our configuration and key). The older epoch's
	// frames are dropped (Drops.Stale) but the two are not told apart:
	// this cluster may follow the wrong one (see the package
	// documentation, Cluster identity).
	TwoSources CollisionKind = 3
)

// String returns the kind's name.
func (k CollisionKind) String() string {
	switch k {
	case OtherTag:
		return "other-cluster-tag"
	case OwnUnit:
		return "own-unit-id"
	case TwoSources:
		return "two-sources"
	}
	return fmt.Sprintf("CollisionKind(%d)", uint8(k))
}

// Collision is a sign that another cluster on a segment uses this
// cluster's ID. It is an alarm for a human: a forger can raise it too
// (frames need not verify to show another tag), so it changes no role.
type Collision struct {
	// Kind says what showed it.
	Kind CollisionKind
	// Interface is the local interface the frame arrived on.
	Interface string
	// Unit is the unit ID the frame claims.
	Unit uint16
	// Reason explains it in words.
	Reason string
	// At is when it was seen (the now passed to the Machine); First when
	// this kind was first seen from this unit ID on this interface.
	At, First time.Time
	// Frames counts the frames that showed it (from this unit ID, on this
	// interface, of this kind).
	Frames uint64
}

// String formats the collision for logs.
func (c Collision) String() string {
	return fmt.Sprintf("cluster ID collision on %s: %s", c.Interface, c.Reason)
}

// CollisionReportEvery spaces out the Collisions a Machine outputs for
// one kind, unit ID and interface: the first frame is reported at once,
// then one every CollisionReportEvery while the frames keep coming.
const CollisionReportEvery = 10 * time.Second

// maxCollisions bounds the collisions a Machine remembers (forged unit
// IDs must not grow it); further ones are counted only.
const maxCollisions = 32

// sourceRun is the number of frames, each advancing its sequence, that
// make an older epoch of a peer a second live source.
const sourceRun = 3

type collisionKey struct {
	kind  CollisionKind
	iface int
	unit  uint16
}

type collisionRecord struct {
	c        Collision
	reported time.Time
}

// collide records a collision shown by one frame and outputs it when it
// is new or not reported for CollisionReportEvery.
func (m *Machine) collide(now time.Time, out *Output, kind CollisionKind, i int, unit uint16, reason string) {
	m.c.Collisions++
	k := collisionKey{kind, i, unit}
	r := m.collisions[k]
	if r == nil {
		if len(m.collisions) >= maxCollisions {
			return
		}
		if m.collisions == nil {
			m.collisions = make(map[collisionKey]*collisionRecord)
		}
		r = &collisionRecord{c: Collision{Kind: kind, Interface: m.ports[i].name, Unit: unit, First: now}}
		m.collisions[k] = r
		m.collisionOrder = append(m.collisionOrder, k)
	}
	r.c.Frames++
	r.c.At, r.c.Reason = now, reason
	if r.c.Frames == 1 || now.Sub(r.reported) >= CollisionReportEvery {
		r.reported = now
		out.Collisions = append(out.Collisions, r.c)
	}
}

// Collisions returns every collision seen (at most 32), the oldest
// first, each with its newest frame.
func (m *Machine) Collisions() []Collision {
	out := make([]Collision, 0, len(m.collisionOrder))
	for _, k := range m.collisionOrder {
		out = append(out, m.collisions[k].c)
	}
	return out
}

// primaryTag returns the cluster tag of what this unit sends: of its
// primary key, or of unauthenticated frames without keys. The sender
// checks it against the key that sealed (the ring may change between).
func (m *Machine) primaryTag() uint32 {
	if m.sealer == nil {
		return m.tags.plain
	}
	tag, _ := m.tags.want(m.sealer.mac.Primary())
	return tag
}

// checkTag drops a frame or echo (of unit, sealed with key keyID) of our
// cluster ID whose cluster tag is not ours.
func (m *Machine) checkTag(now time.Time, cluster uint16, tag uint32, keyID uint8, unit uint16, i int, out *Output) error {
	if cluster != m.cfg.ClusterID {
		return nil
	}
	want, ok := m.tags.want(keyID)
	if !ok || tag == want {
		return nil
	}
	m.c.Dropped.ClusterTag++
	err := fmt.Errorf("heartbeat: frame of unit %d with cluster tag %08x, ours is %08x: another cluster uses cluster ID %d: %w",
		unit, tag, want, cluster, ErrCluster)
	m.collide(now, out, OtherTag, i, unit, fmt.Sprintf(
		"unit %d of another cluster (tag %08x, ours %08x) uses cluster ID %d: give each cluster its own ID",
		unit, tag, want, cluster))
	return err
}

// ownUnit reports an authentic frame with our unit ID from another epoch.
func (m *Machine) ownUnit(now time.Time, f *Frame, i int, out *Output) {
	if f.Epoch == m.cfg.Epoch {
		return // our own frame, looped back
	}
	m.collide(now, out, OwnUnit, i, f.UnitID, fmt.Sprintf(
		"another unit sends with this unit's ID %d (epoch %d, ours %d) in cluster %d: a copied configuration and key?",
		f.UnitID, f.Epoch, m.cfg.Epoch, f.ClusterID))
}

// rival follows the frames of an older epoch of a peer on link l: a run
// of them with advancing sequence numbers while the current epoch is live
// is a second live unit with the peer's ID.
func (m *Machine) rival(now time.Time, f *Frame, i int, l *peerLink, out *Output) {
	if f.Epoch == l.rivalEpoch && f.Seq > l.rivalSeq {
		l.rivalRun++
	} else {
		l.rivalEpoch, l.rivalRun = f.Epoch, 1
	}
	l.rivalSeq = f.Seq
	if l.rivalRun < sourceRun || now.Sub(l.lastRx) > 2*m.cfg.Interval {
		return
	}
	m.collide(now, out, TwoSources, i, f.UnitID, fmt.Sprintf(
		"two live units send as unit %d of cluster %d (epochs %d and %d): a copied configuration and key?",
		f.UnitID, f.ClusterID, l.epoch, f.Epoch))
}

package heartbeat

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hakit/hakit"
)

// cunit is a unit of one of two clusters that share cluster ID 7 on one
// segment, for the collision tests.
type cunit struct {
	name string
	m    *Machine
}

func collisionUnit(t *testing.T, name string, unit uint16, epoch uint64, cluster string, ring *hakit.Keyring) *cunit {
	t.Helper()
	cfg := strictConfig()
	cfg.UnitID, cfg.Epoch, cfg.ClusterName, cfg.Keys = unit, epoch, cluster, ring
	m, err := NewMachine(&cfg, Interface{Name: "eth0", Addr: unitAddr(unit, 0)})
	require.NoError(t, err)
	return &cunit{name: name, m: m}
}

// segment runs units on one segment for d from start, each sending its
// heartbeats every 100 ms to every other unit, and returns every output
// of the receivers' Receive calls by unit name.
func segment(t *testing.T, start time.Time, d time.Duration, units ...*cunit) map[string][]Output {
	t.Helper()
	outs := make(map[string][]Output)
	for now := start; now.Before(start.Add(d)); now = now.Add(10 * ms) {
		for _, u := range units {
			for _, f := range u.m.Tick(now).Frames {
				for _, v := range units {
					if v == u {
						continue
					}
					out, _ := v.m.Receive(now, "eth0", f.Data)
					outs[v.name] = append(outs[v.name], out)
				}
			}
		}
	}
	return outs
}

func collisionsIn(outs []Output) []Collision {
	var cs []Collision
	for _, o := range outs {
		cs = append(cs, o.Collisions...)
	}
	return cs
}

func heardFrom(outs []Output) map[uint16]hakit.Role {
	h := make(map[uint16]hakit.Role)
	for _, o := range outs {
		for _, x := range o.Heard {
			h[x.Peer] = x.Role
		}
	}
	return h
}

// TestCollisionOtherTag: two pairs with cluster ID 7 and unit IDs 1 and 2
// share a segment; the second starts while the first runs. Whether the
// clusters differ in key, in name, or have no keys and different names,
// every unit tells the other cluster's frames apart with the first frame:
// counted (Drops.ClusterTag, Counters.Collisions), reported once, never
// heard (so never given to the election).
func TestCollisionOtherTag(t *testing.T) {
	keyA := testRing(t, hakit.Key{ID: 1, Secret: []byte("cluster A secret")})
	keyB := testRing(t, hakit.Key{ID: 1, Secret: []byte("cluster B secret")})
	tests := []struct {
		name         string
		ringA, ringB *hakit.Keyring
		nameA, nameB string
	}{
		{"other key", keyA, keyB, "", ""},
		{"same key, other name", keyA, keyA, "a", "b"},
		{"no keys, other name", nil, nil, "a", "b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a1 := collisionUnit(t, "a1", 1, 10, tt.nameA, tt.ringA)
			a2 := collisionUnit(t, "a2", 2, 11, tt.nameA, tt.ringA)
			require.NoError(t, a1.m.SetRole(hakit.Primary))
			require.NoError(t, a2.m.SetRole(hakit.Secondary))
			start := time.Unix(1000, 0)
			segment(t, start, 10*time.Second, a1, a2)

			b1 := collisionUnit(t, "b1", 1, 20, tt.nameB, tt.ringB)
			b2 := collisionUnit(t, "b2", 2, 21, tt.nameB, tt.ringB)
			require.NoError(t, b1.m.SetRole(hakit.Secondary))
			require.NoError(t, b2.m.SetRole(hakit.Primary))
			at := start.Add(10 * time.Second)
			outs := segment(t, at, 30*time.Second, a1, a2, b1, b2)

			for _, u := range []*cunit{a1, a2, b1, b2} {
				cs := collisionsIn(outs[u.name])
				require.NotEmpty(t, cs, u.name)
				require.Equal(t, OtherTag, cs[0].Kind)
				require.Equal(t, at, cs[0].At, "%s: the first frame of the other cluster shows it", u.name)
				// Two units of the other cluster, each reported at once and
				// then once every 10 s for 30 s.
				require.Len(t, cs, 2*3, "%s: %v", u.name, cs)
				c := u.m.Counters()
				require.Equal(t, c.Dropped.ClusterTag, c.Collisions)
				require.GreaterOrEqual(t, c.Collisions, uint64(2*290), u.name)
				require.Zero(t, c.Dropped.Auth+c.Dropped.Own+c.Dropped.Stale+c.Dropped.Replay, "%s: %+v", u.name, c.Dropped)
				require.Len(t, u.m.Collisions(), 2)
				require.Len(t, u.m.Peers(), 1, u.name)
			}
			// Each unit hears only its own peer, with the role it advertises.
			require.Equal(t, map[uint16]hakit.Role{2: hakit.Secondary}, heardFrom(outs["a1"]))
			require.Equal(t, map[uint16]hakit.Role{1: hakit.Primary}, heardFrom(outs["a2"]))
			require.Equal(t, map[uint16]hakit.Role{2: hakit.Primary}, heardFrom(outs["b1"]))
			require.Equal(t, map[uint16]hakit.Role{1: hakit.Secondary}, heardFrom(outs["b2"]))
		})
	}
}

// TestCollisionCopiedConfig: the second pair copied the first's
// configuration and key, so the tags are equal. Each unit of the running
// pair sees it within a second: its own unit ID from another epoch, or
// its peer's ID from two live epochs.
func TestCollisionCopiedConfig(t *testing.T) {
	ring := testRing(t)
	a1 := collisionUnit(t, "a1", 1, 10, "", ring)
	a2 := collisionUnit(t, "a2", 2, 11, "", ring)
	start := time.Unix(1000, 0)
	segment(t, start, 10*time.Second, a1, a2)
	b1 := collisionUnit(t, "b1", 1, 20, "", ring)
	b2 := collisionUnit(t, "b2", 2, 21, "", ring)
	at := start.Add(10 * time.Second)
	outs := segment(t, at, time.Second, a1, a2, b1, b2)
	for _, u := range []*cunit{a1, a2} {
		kinds := make(map[CollisionKind]time.Time)
		for _, c := range collisionsIn(outs[u.name]) {
			if _, ok := kinds[c.Kind]; !ok {
				kinds[c.Kind] = c.At
			}
		}
		require.Contains(t, kinds, OwnUnit, u.name)
		require.Equal(t, at, kinds[OwnUnit], "%s: the first frame with its own ID shows it", u.name)
		require.Contains(t, kinds, TwoSources, u.name)
		require.Less(t, kinds[TwoSources].Sub(at), time.Second, u.name)
	}
}

// TestCollisionNotFromOwnFrames: a unit's own frames looped back, a peer's
// restart, and a key rotation are no collision.
func TestCollisionNotFromOwnFrames(t *testing.T) {
	old := hakit.Key{ID: 1, Secret: []byte("0123456789abcdef")}
	next := hakit.Key{ID: 2, Secret: []byte("fedcba9876543210")}
	ring1, ring2 := testRing(t, old), testRing(t, old)
	a1 := collisionUnit(t, "a1", 1, 10, "x", ring1)
	a2 := collisionUnit(t, "a2", 2, 11, "x", ring2)
	now := time.Unix(1000, 0)
	var outs []Output
	step := func(units ...*cunit) {
		for _, u := range units {
			for _, f := range u.m.Tick(now).Frames {
				for _, v := range units {
					out, _ := v.m.Receive(now, "eth0", f.Data) // v == u: looped back
					outs = append(outs, out)
				}
			}
		}
		now = now.Add(10 * ms)
	}
	for range 500 {
		step(a1, a2)
	}
	// Rotation, one unit at a time, every step with frames in between.
	for _, set := range [][2]hakit.Key{{old, next}, {next, old}} {
		require.NoError(t, ring1.Set(set[0], set[1]))
		for range 50 {
			step(a1, a2)
		}
		require.NoError(t, ring2.Set(set[0], set[1]))
		for range 50 {
			step(a1, a2)
		}
	}
	// Unit 2 restarts.
	a2 = collisionUnit(t, "a2", 2, 12, "x", ring2)
	for range 500 {
		step(a1, a2)
	}
	require.Empty(t, collisionsIn(outs))
	require.Zero(t, a1.m.Counters().Collisions)
	require.NotZero(t, a1.m.Counters().Dropped.Own, "its own frames were looped back")
}

// TestCollisionMemoryBounded: forged unit IDs with another tag are all
// counted, but at most 32 are remembered.
func TestCollisionMemoryBounded(t *testing.T) {
	a1 := collisionUnit(t, "a1", 1, 10, "a", nil)
	now := time.Unix(1000, 0)
	var reported int
	for u := range 1000 {
		f := Frame{ClusterID: 7, ClusterTag: 1, UnitID: uint16(u + 2), Role: hakit.Primary, Epoch: 1, Seq: 1}
		b, err := f.MarshalBinary()
		require.NoError(t, err)
		out, err := a1.m.Receive(now, "eth0", b)
		require.ErrorIs(t, err, ErrCluster)
		reported += len(out.Collisions)
	}
	require.Equal(t, 32, reported)
	require.Len(t, a1.m.Collisions(), 32)
	require.Equal(t, uint64(1000), a1.m.Counters().Collisions)
	require.Empty(t, a1.m.Peers())
}

func ExampleClusterTag() {
	fmt.Printf("%08x\n", ClusterTag("edge-a", nil))
	fmt.Printf("%08x\n", ClusterTag("edge-b", nil))
	fmt.Println(ClusterTag("edge-a", []byte("0123456789abcdef")) != ClusterTag("edge-a", []byte("fedcba9876543210")))
	// Output:
	// 4949ac6b
	// 758df3a6
	// true
}

// TestCollisionEcho: an echo of the other cluster (sealed with its key)
// is dropped for its tag, before its tag is checked against our key.
func TestCollisionEcho(t *testing.T) {
	ringB := testRing(t, hakit.Key{ID: 1, Secret: []byte("cluster B secret")})
	a2 := collisionUnit(t, "a2", 2, 11, "", testRing(t))
	e := Echo{Op: EchoRequest, ClusterID: 7, ClusterTag: ClusterTag("", []byte("cluster B secret")), UnitID: 1, Epoch: 20, Seq: 1}
	b, err := NewSealer(ringB, DefaultEtherType).SealEcho(nil, &e)
	require.NoError(t, err)
	out, err := a2.m.Receive(time.Unix(1000, 0), "eth0", b)
	require.ErrorIs(t, err, ErrCluster)
	require.Len(t, out.Collisions, 1)
	require.Empty(t, out.Frames, "not answered")
	c := a2.m.Counters()
	require.Equal(t, uint64(1), c.Dropped.ClusterTag)
	require.Zero(t, c.Dropped.Auth)
}

package statesync_test

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hakit/hakit/statesync"
)

func TestBucketSymmetric(t *testing.T) {
	for i := range 1000 {
		k := statesync.Key{Proto: []uint8{6, 17, 1}[i%3],
			Src: netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 18, 1, byte(i)}), uint16(30000+i)),
			Dst: netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 18, 2, byte(i >> 8)}), 443)}
		b := statesync.Bucket(k, 64)
		require.True(t, b >= 0 && b < 64)
		require.Equal(t, b, statesync.Bucket(k.Reversed(), 64), "both directions in one bucket")
	}
}

func TestBucketsMoveOnlyTheLeaversShare(t *testing.T) {
	three, err := statesync.NewSchedule([]statesync.Unit{{ID: 1, Weight: 1}, {ID: 2, Weight: 1}, {ID: 3, Weight: 1}})
	require.NoError(t, err)
	two, err := statesync.NewSchedule([]statesync.Unit{{ID: 1, Weight: 1}, {ID: 3, Weight: 1}})
	require.NoError(t, err)
	before, after := three.Buckets(64), two.Buckets(64)
	count := map[uint16]int{}
	for b := range before {
		count[before[b]]++
		if before[b] != 2 {
			require.Equal(t, before[b], after[b], "bucket %d of a unit that stays moved", b)
		} else {
			require.NotEqual(t, uint16(2), after[b])
		}
	}
	for _, id := range []uint16{1, 2, 3} {
		require.InDelta(t, 64.0/3, count[id], 8, "unit %d's share: %v", id, count)
	}
}

func TestDealBuckets(t *testing.T) {
	all := []uint16{4, 2, 3}
	three := statesync.DealBuckets(all, all, 64)
	count := map[uint16]int{}
	for _, o := range three {
		count[o]++
	}
	require.Equal(t, map[uint16]int{2: 22, 3: 21, 4: 21}, count, "dealt evenly")
	for _, dead := range []uint16{2, 3, 4} {
		var live []uint16
		for _, u := range all {
			if u != dead {
				live = append(live, u)
			}
		}
		two := statesync.DealBuckets(all, live, 64)
		for b := range three {
			if three[b] != dead {
				require.Equal(t, three[b], two[b], "bucket %d of a survivor moved", b)
			} else {
				require.Contains(t, live, two[b])
			}
		}
		one := statesync.DealBuckets(all, live[:1], 64)
		for b := range two {
			if two[b] == live[0] {
				require.Equal(t, live[0], one[b])
			}
			require.Equal(t, live[0], one[b])
		}
	}
	require.Equal(t, make([]uint16, 8), statesync.DealBuckets(all, nil, 8))
	require.Equal(t, make([]uint16, 8), statesync.DealBuckets(all, []uint16{9}, 8), "a unit not in the cluster owns nothing")
}

func BenchmarkBucket(b *testing.B) {
	b.ReportAllocs()
	k := statesync.Key{Proto: 6, Src: netip.MustParseAddrPort("198.18.1.10:40000"), Dst: netip.MustParseAddrPort("198.18.2.10:443")}
	for b.Loop() {
		statesync.Bucket(k, 64)
	}
}

// Every unit computes the same bucket for a connection, and from the
// schedule the same owner; the kernel's filter (package
// statesync/clusterip) computes the same bucket from the packets.
func ExampleBucket() {
	s, _ := statesync.NewSchedule([]statesync.Unit{{ID: 1, Weight: 1}, {ID: 2, Weight: 1}})
	owners := s.Buckets(statesync.DefaultBuckets)
	k := statesync.Key{Proto: 6, Src: netip.MustParseAddrPort("198.18.1.10:40000"), Dst: netip.MustParseAddrPort("198.18.2.10:443")}
	b := statesync.Bucket(k, len(owners))
	fmt.Println(b == statesync.Bucket(k.Reversed(), len(owners)), owners[b] == 1 || owners[b] == 2)
	// Output: true true
}

package statesync

import (
	"encoding/binary"
	"math/bits"
	"net/netip"
	"slices"
)

// DefaultBuckets is the number of buckets an active-active cluster splits
// its sessions into when the caller names none: enough that three or four
// units each get a share within a few percent of their weight, few enough
// that the kernel's map of them is rewritten in one small batch.
const DefaultBuckets = 64

// BucketSeed is the seed of the bucket hash. The kernel's filter must be
// given the same one (package statesync/clusterip does), and it must not be
// zero: nftables draws a random seed for a hash without one, and then every
// unit would compute a bucket of its own.
const BucketSeed = 0x686b6161 // "hkaa"

// Bucket returns the bucket (0 to n-1) of the session with key k, as the
// Linux kernel computes it (package statesync/clusterip writes the rules):
// the kernel hashes the connection's original tuple with nftables' jhash
// expression (seed BucketSeed) over
//
//	ct original ip saddr . ct original ip daddr . ct original proto-src . ct original proto-dst
//
// for TCP and UDP, and over the two addresses alone for every other
// protocol, and again with the two ends swapped; each hash is taken modulo
// n, and the bucket is their sum modulo n. The sum makes the bucket
// symmetric: a unit that sees a connection's reply first, without its
// entry (its conntrack then takes the reply for a new connection the other
// way), computes the same bucket as the unit that saw its first packet.
// Both directions of a connection, and its NAT translations, have one
// original tuple, so every packet of it falls in one bucket, on every
// unit. The kernel hashes its registers as native-endian words, as this
// does: the units of one cluster must share a byte order. IPv6 keys hash
// their 16-byte addresses the same way (the kernel's filter is IPv4 only).
// n below 1 is taken as 1.
func Bucket(k Key, n int) int {
	n = max(n, 1)
	b1, b2 := HalfBuckets(k, n)
	return (b1 + b2) % n
}

// HalfBuckets returns the two hashes Bucket sums: of k's original tuple
// and of the tuple with its ends swapped, each modulo n.
func HalfBuckets(k Key, n int) (int, int) {
	n = max(n, 1)
	return halfBucket(k.Proto, k.Src, k.Dst, n), halfBucket(k.Proto, k.Dst, k.Src, n)
}

func halfBucket(proto uint8, src, dst netip.AddrPort, n int) int {
	var b [40]byte
	var l int
	s, d := src.Addr().Unmap(), dst.Addr().Unmap()
	if s.Is4() && d.Is4() {
		s4, d4 := s.As4(), d.As4()
		l = copy(b[:], s4[:])
		l += copy(b[l:], d4[:])
	} else {
		s16, d16 := s.As16(), d.As16()
		l = copy(b[:], s16[:])
		l += copy(b[l:], d16[:])
	}
	if proto == 6 || proto == 17 {
		// Each port in a 32-bit register: big-endian, then two zero bytes.
		binary.BigEndian.PutUint16(b[l:], src.Port())
		binary.BigEndian.PutUint16(b[l+4:], dst.Port())
		l += 8
	}
	return int(uint64(jhash(b[:l], BucketSeed)) * uint64(n) >> 32)
}

// Buckets returns the owner of each of n buckets: bucket b belongs to the
// unit that Owner would give an item whose hash is b's. Like Owner, it
// moves only the buckets of a unit that leaves, and one that joins takes
// its share from every other.
func (s *Schedule) Buckets(n int) []uint16 {
	out := make([]uint16, max(n, 1))
	for b := range out {
		out[b] = s.owner(mix(uint64(b)+1, hk3))
	}
	return out
}

// DealBuckets returns the owner of each of n buckets among the live
// units, a subset of all (every unit of the cluster, the same list on
// every unit, in any order). The buckets are dealt out to all in turn (in
// ascending ID order), so that with every unit live each owns n/len(all)
// of them or one more; a bucket dealt to a unit that is not live goes to
// the live unit that a Schedule over the live units (weight 1 each) gives
// it. So a unit's failure moves only its buckets, spread over the
// survivors, and its return takes back exactly those. Live units missing
// from all own nothing; with no live unit every owner is 0.
func DealBuckets(all, live []uint16, n int) []uint16 {
	n = max(n, 1)
	out := make([]uint16, n)
	units := slices.Sorted(slices.Values(all))
	units = slices.Compact(units)
	var ws []Unit
	for _, u := range units {
		if u != 0 && slices.Contains(live, u) {
			ws = append(ws, Unit{ID: u, Weight: 1})
		}
	}
	if len(ws) == 0 {
		return out
	}
	s, err := NewSchedule(ws)
	if err != nil {
		panic("statesync: schedule of distinct nonzero units: " + err.Error())
	}
	for b := range out {
		if u := units[b%len(units)]; slices.Contains(live, u) && u != 0 {
			out[b] = u
		} else {
			out[b] = s.owner(mix(uint64(b)+1, hk3))
		}
	}
	return out
}

// jhash is the Linux kernel's jhash (Bob Jenkins' lookup3, include/linux/
// jhash.h), reading words in native byte order as the kernel does.
func jhash(k []byte, initval uint32) uint32 {
	a := 0xdeadbeef + uint32(len(k)) + initval
	b, c := a, a
	for len(k) > 12 {
		a += binary.NativeEndian.Uint32(k)
		b += binary.NativeEndian.Uint32(k[4:])
		c += binary.NativeEndian.Uint32(k[8:])
		a, b, c = jmix(a, b, c)
		k = k[12:]
	}
	if len(k) == 0 {
		return c
	}
	// The tail: bytes added as little-endian whatever the host (the
	// kernel's switch on the length does the same).
	var t [12]byte
	copy(t[:], k)
	a += binary.LittleEndian.Uint32(t[:])
	b += binary.LittleEndian.Uint32(t[4:])
	c += binary.LittleEndian.Uint32(t[8:])
	return jfinal(a, b, c)
}

func jmix(a, b, c uint32) (uint32, uint32, uint32) {
	a -= c
	a ^= bits.RotateLeft32(c, 4)
	c += b
	b -= a
	b ^= bits.RotateLeft32(a, 6)
	a += c
	c -= b
	c ^= bits.RotateLeft32(b, 8)
	b += a
	a -= c
	a ^= bits.RotateLeft32(c, 16)
	c += b
	b -= a
	b ^= bits.RotateLeft32(a, 19)
	a += c
	c -= b
	c ^= bits.RotateLeft32(b, 4)
	b += a
	return a, b, c
}

func jfinal(a, b, c uint32) uint32 {
	c ^= b
	c -= bits.RotateLeft32(b, 14)
	a ^= c
	a -= bits.RotateLeft32(c, 11)
	b ^= a
	b -= bits.RotateLeft32(a, 25)
	c ^= b
	c -= bits.RotateLeft32(b, 16)
	a ^= c
	a -= bits.RotateLeft32(c, 4)
	b ^= a
	b -= bits.RotateLeft32(a, 14)
	c ^= b
	c -= bits.RotateLeft32(b, 24)
	return c
}

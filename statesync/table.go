package statesync

import (
	"encoding/binary"
	"math/bits"
	"math/rand/v2"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// Table is the session table: a sharded, open-addressing hash table of
// compact entries, safe for concurrent use by many readers and writers.
//
// An entry takes 80 bytes (addresses as 16 bytes each, ports, zone,
// protocol, state, status, deadline, mark, version and counters packed
// together) plus its slot in the shard's index; NAT mappings are kept out of
// line, only for sessions that have one. A 1,000,000-entry table stays under
// 128 bytes per session (see BenchmarkTableMemory).
//
// The zero Table is not usable; call NewTable.
type Table struct {
	seed   uint64
	count  atomic.Int64 // live entries, readable without the shard locks
	shards [numShards]shard
	genMu  sync.Mutex
	gens   [256]uint8    // current bulk generation per origin
	lim    limit         // the most sessions (limit.go)
	mark   atomic.Uint32 // the owner's generation, stamped by Upsert (see Mark)
	feedMu sync.Mutex    // serialises creating and closing the Feed
	feed   *Feed
	exp    expectSet // expect.go
}

// curGen returns the current bulk-sync generation of origin.
func (t *Table) curGen(origin uint8) uint8 {
	t.genMu.Lock()
	defer t.genMu.Unlock()
	return t.gens[origin]
}

// nextGen starts a new bulk-sync generation for origin and returns it.
// Keeping it in the table (not the receiver) keeps generations distinct
// across receiver restarts.
func (t *Table) nextGen(origin uint8) uint8 {
	t.genMu.Lock()
	defer t.genMu.Unlock()
	t.gens[origin]++
	return t.gens[origin]
}

const (
	shardBits  = 8
	numShards  = 1 << shardBits
	chunkBits  = 8
	chunkSize  = 1 << chunkBits
	minIndex   = 16
	famInvalid = 0
	famV4      = 1
	famV6      = 2
)

// entry flags.
const (
	flagLive = 1 << iota
	flagNAT
	// flagQueued: the entry's index is in its shard's feed queue. It
	// survives the entry's removal (the index stays queued), so that an
	// index is queued at most once.
	flagQueued
	// flagSeen: the feed's consumer was given this entry, so its removal
	// must be reported.
	flagSeen
	// flagOwned: last written by Upsert (this unit owns it), so its gen is
	// the owner's mark (see Mark).
	flagOwned
	// flagExt: the session has a helper or sequence adjustments, kept out
	// of line (shard.ext).
	flagExt
)

// ckey is the compact, comparable form of Key: 40 bytes.
type ckey struct {
	src, dst     [16]byte
	sport, dport uint16
	zone         uint16
	proto        uint8
	fam          uint8 // bits 0-1: Src family, bits 2-3: Dst family
}

// entry is the compact form of Session: 80 bytes.
type entry struct {
	k       ckey
	state   uint8
	flags   uint8
	origin  uint8 // which stream wrote it last (0: local owner)
	gen     uint8 // bulk-sync generation of that stream
	status  uint32
	expires uint32
	mark    uint32
	version uint64
	packets uint64
	bytes   uint64
}

// sessionExt is what few sessions have: a helper, sequence adjustments.
type sessionExt struct {
	helper string
	seqAdj [2]SeqAdj
}

// natTuple is the compact reply tuple of a NATed session.
type natTuple struct {
	src, dst     [16]byte
	sport, dport uint16
	fam          uint8
}

type shard struct {
	mu     sync.RWMutex
	index  []uint64 // 0: empty; else hash32<<32 | (entry index + 1)
	chunks []*[chunkSize]entry
	free   []uint32 // indices of deleted entries, reused first
	hi     uint32   // entries ever allocated
	n      int      // live entries
	nat    map[uint32]natTuple
	ext    map[uint32]sessionExt
	// With a Feed: the signal to raise, the queued entry indices and the
	// keys of removed entries the consumer had seen.
	fd    *feedSignal
	dirty []uint32
	gone  []ckey
	_     [64]byte // keep shards' locks on separate cache lines
}

// NewTable returns an empty table sized for about sizeHint sessions (0 for
// no hint).
func NewTable(sizeHint int) *Table {
	t := &Table{seed: rand.Uint64()}
	per := sizeHint / numShards
	size := minIndex
	for size*3/4 < per {
		size *= 2
	}
	for i := range t.shards {
		t.shards[i].index = make([]uint64, size)
	}
	return t
}

func famOf(a netip.Addr) uint8 {
	switch {
	case a.Is4():
		return famV4
	case a.Is6():
		return famV6
	}
	return famInvalid
}

func addrFrom(b [16]byte, fam uint8) netip.Addr {
	switch fam {
	case famV4:
		return netip.AddrFrom4([4]byte(b[12:16]))
	case famV6:
		return netip.AddrFrom16(b)
	}
	return netip.Addr{}
}

func packKey(k *Key) ckey {
	return ckey{
		src:   k.Src.Addr().As16(),
		dst:   k.Dst.Addr().As16(),
		sport: k.Src.Port(),
		dport: k.Dst.Port(),
		zone:  k.Zone,
		proto: k.Proto,
		fam:   famOf(k.Src.Addr()) | famOf(k.Dst.Addr())<<2,
	}
}

func (c *ckey) unpack() Key {
	return Key{
		Zone:  c.zone,
		Proto: c.proto,
		Src:   netip.AddrPortFrom(addrFrom(c.src, c.fam&3), c.sport),
		Dst:   netip.AddrPortFrom(addrFrom(c.dst, c.fam>>2&3), c.dport),
	}
}

func mix(a, b uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	return hi ^ lo
}

const (
	hk0 = 0xa0761d6478bd642f
	hk1 = 0xe7037ed1a0b428db
	hk2 = 0x8ebc6af09c88c6e3
	hk3 = 0x589965cc75374cc3
)

// hashKey is a wyhash-style hash of the compact key. With seed 0 it is the
// same on every unit (the active-active schedule relies on that).
func hashKey(c *ckey, seed uint64) uint64 {
	w0 := binary.LittleEndian.Uint64(c.src[0:8])
	w1 := binary.LittleEndian.Uint64(c.src[8:16])
	w2 := binary.LittleEndian.Uint64(c.dst[0:8])
	w3 := binary.LittleEndian.Uint64(c.dst[8:16])
	w4 := uint64(c.sport) | uint64(c.dport)<<16 | uint64(c.zone)<<32 | uint64(c.proto)<<48 | uint64(c.fam)<<56
	h := mix(w0^seed^hk0, w1^hk1)
	h = mix(w2^h^hk2, w3^hk1)
	h = mix(w4^h^hk3, 40^hk0)
	return mix(h^hk1, hk2)
}

func (s *shard) at(idx uint32) *entry {
	return &s.chunks[idx>>chunkBits][idx&(chunkSize-1)]
}

// find returns the index slot of c, or -1.
func (s *shard) find(c *ckey, h32 uint32) int {
	mask := uint32(len(s.index) - 1)
	for i := h32 & mask; ; i = (i + 1) & mask {
		v := s.index[i]
		if v == 0 {
			return -1
		}
		if uint32(v>>32) == h32 && s.at(uint32(v)-1).k == *c {
			return int(i)
		}
	}
}

// lookup finds c like find and, when it is there, copies its session
// into out.
func (s *shard) lookup(c *ckey, h32 uint32, out *Session) int {
	slot := s.find(c, h32)
	if slot >= 0 {
		idx := uint32(s.index[slot]) - 1
		s.get(s.at(idx), idx, out)
	}
	return slot
}

func (s *shard) grow() {
	old := s.index
	s.index = make([]uint64, len(old)*2)
	mask := uint32(len(s.index) - 1)
	for _, v := range old {
		if v == 0 {
			continue
		}
		i := uint32(v>>32) & mask
		for s.index[i] != 0 {
			i = (i + 1) & mask
		}
		s.index[i] = v
	}
}

// insert allocates an entry for c (which must be absent) and returns it.
func (s *shard) insert(c *ckey, h32 uint32) (*entry, uint32) {
	if (s.n+1)*4 > len(s.index)*3 {
		s.grow()
	}
	var idx uint32
	if n := len(s.free); n > 0 {
		idx = s.free[n-1]
		s.free = s.free[:n-1]
	} else {
		idx = s.hi
		s.hi++
		if int(idx>>chunkBits) == len(s.chunks) {
			s.chunks = append(s.chunks, new([chunkSize]entry))
		}
	}
	mask := uint32(len(s.index) - 1)
	i := h32 & mask
	for s.index[i] != 0 {
		i = (i + 1) & mask
	}
	s.index[i] = uint64(h32)<<32 | uint64(idx+1)
	s.n++
	e := s.at(idx)
	*e = entry{k: *c, flags: flagLive | e.flags&flagQueued}
	return e, idx
}

// remove deletes the entry in index slot slot (backward-shift deletion:
// later entries of the probe run move up so that no tombstones are needed).
func (s *shard) remove(slot int) {
	mask := uint32(len(s.index) - 1)
	idx := uint32(s.index[slot]) - 1
	e := s.at(idx)
	if s.fd != nil && e.flags&flagSeen != 0 {
		s.gone = append(s.gone, e.k)
		s.fd.notify()
	}
	*e = entry{flags: e.flags & flagQueued}
	if s.nat != nil {
		delete(s.nat, idx)
	}
	if s.ext != nil {
		delete(s.ext, idx)
	}
	s.free = append(s.free, idx)
	s.n--
	i, j := uint32(slot), uint32(slot)
	for {
		j = (j + 1) & mask
		w := s.index[j]
		if w == 0 {
			break
		}
		// w stays if its home slot k is cyclically in (i, j].
		k := uint32(w>>32) & mask
		if (k-i-1)&mask < (j-i)&mask {
			continue
		}
		s.index[i] = w
		i = j
	}
	s.index[i] = 0
}

func (t *Table) locate(k *Key) (*shard, ckey, uint32) {
	c := packKey(k)
	h := hashKey(&c, t.seed)
	return &t.shards[h>>(64-shardBits)], c, uint32(h)
}

// set writes the state of s into e (index idx of sh), including the NAT
// mapping.
func (sh *shard) set(e *entry, idx uint32, s *Session) {
	e.state = s.State
	e.status = s.Status
	e.expires = s.Expires
	e.mark = s.Mark
	e.version = s.Version
	e.packets = s.Packets
	e.bytes = s.Bytes
	if s.NAT() && (s.ReplySrc != s.Key.Dst || s.ReplyDst != s.Key.Src) {
		e.flags |= flagNAT
		if sh.nat == nil {
			sh.nat = make(map[uint32]natTuple)
		}
		sh.nat[idx] = natTuple{
			src:   s.ReplySrc.Addr().As16(),
			dst:   s.ReplyDst.Addr().As16(),
			sport: s.ReplySrc.Port(),
			dport: s.ReplyDst.Port(),
			fam:   famOf(s.ReplySrc.Addr()) | famOf(s.ReplyDst.Addr())<<2,
		}
	} else if e.flags&flagNAT != 0 {
		e.flags &^= flagNAT
		delete(sh.nat, idx)
	}
	if s.ext() {
		e.flags |= flagExt
		if sh.ext == nil {
			sh.ext = make(map[uint32]sessionExt)
		}
		sh.ext[idx] = sessionExt{helper: s.Helper, seqAdj: s.SeqAdj}
	} else if e.flags&flagExt != 0 {
		e.flags &^= flagExt
		delete(sh.ext, idx)
	}
}

// get fills s from entry e at index idx.
func (sh *shard) get(e *entry, idx uint32, s *Session) {
	*s = Session{
		Key:     e.k.unpack(),
		State:   e.state,
		Status:  e.status,
		Expires: e.expires,
		Packets: e.packets,
		Bytes:   e.bytes,
		Mark:    e.mark,
		Version: e.version,
	}
	if e.flags&flagNAT != 0 {
		n := sh.nat[idx]
		s.ReplySrc = netip.AddrPortFrom(addrFrom(n.src, n.fam&3), n.sport)
		s.ReplyDst = netip.AddrPortFrom(addrFrom(n.dst, n.fam>>2&3), n.dport)
	}
	if e.flags&flagExt != 0 {
		x := sh.ext[idx]
		s.Helper, s.SeqAdj = x.helper, x.seqAdj
	}
}

// same reports whether entry e at index idx holds s as the table would
// store it.
func (sh *shard) same(e *entry, idx uint32, s *Session) bool {
	var old Session
	sh.get(e, idx, &old)
	old.Version = s.Version
	return old == normalSession(*s)
}

// upsert is Upsert and Store: with bump, the version becomes the previous
// one plus one; origin and gen tag the entry for bulk-sync sweeping.
func (t *Table) upsert(s *Session, bump bool, origin, gen uint8) bool {
	sh, c, h32 := t.locate(&s.Key)
	sh.mu.Lock()
	var e *entry
	var idx uint32
	found := false
	if slot := sh.find(&c, h32); slot >= 0 {
		idx = uint32(sh.index[slot]) - 1
		e, found = sh.at(idx), true
	} else if !t.lim.admit(t.count.Load()) {
		sh.mu.Unlock()
		return false
	} else {
		e, idx = sh.insert(&c, h32)
		t.count.Add(1)
	}
	if bump {
		s.Version = e.version + 1
	}
	e.origin, e.gen = origin, gen
	if bump {
		e.flags |= flagOwned
	} else {
		e.flags &^= flagOwned
	}
	if !bump && found && sh.fd != nil && e.flags&flagQueued == 0 && e.version == s.Version && sh.same(e, idx, s) {
		// A replica told again what it has (a bulk sync after a
		// resync): nothing changed for the feed's consumer.
		sh.mu.Unlock()
		return true
	}
	sh.set(e, idx, s)
	if sh.fd != nil && e.flags&flagQueued == 0 {
		e.flags |= flagQueued
		sh.dirty = append(sh.dirty, idx)
		sh.fd.notify()
	}
	sh.mu.Unlock()
	return true
}

// Upsert inserts s or replaces the session with the same key, on the unit
// that owns the session: the stored Version is the previous entry's plus
// one (1 for a new entry), whatever s.Version says. It returns the session
// as stored.
func (t *Table) Upsert(s Session) Session {
	t.upsert(&s, true, 0, uint8(t.mark.Load()))
	return t.normal(s)
}

// normal returns s as the table would return it: zones dropped, a reversed
// reply tuple dropped.
func (t *Table) normal(s Session) Session { return normalSession(s) }

func normalSession(s Session) Session {
	s.Key = canonKey(s.Key)
	if s.NAT() && s.ReplySrc == s.Key.Dst && s.ReplyDst == s.Key.Src {
		s.ReplySrc, s.ReplyDst = netip.AddrPort{}, netip.AddrPort{}
	} else if s.NAT() {
		s.ReplySrc = canonAP(s.ReplySrc)
		s.ReplyDst = canonAP(s.ReplyDst)
	}
	return s
}

func canonAP(ap netip.AddrPort) netip.AddrPort {
	if ap.Addr().Zone() != "" {
		return netip.AddrPortFrom(ap.Addr().WithZone(""), ap.Port())
	}
	return ap
}

func canonKey(k Key) Key {
	k.Src, k.Dst = canonAP(k.Src), canonAP(k.Dst)
	return k
}

// Store inserts s or replaces the session with the same key, keeping
// s.Version: this is how a replica records the owner's session.
func (t *Table) Store(s Session) {
	t.upsert(&s, false, 0, 0)
}

// Delete removes the session with key k and returns it.
func (t *Table) Delete(k Key) (Session, bool) {
	sh, c, h32 := t.locate(&k)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	var s Session
	slot := sh.lookup(&c, h32, &s)
	if slot < 0 {
		return Session{}, false
	}
	sh.remove(slot)
	t.count.Add(-1)
	return s, true
}

// Get returns the session with key k.
func (t *Table) Get(k Key) (Session, bool) {
	sh, c, h32 := t.locate(&k)
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	var s Session
	if sh.lookup(&c, h32, &s) < 0 {
		return Session{}, false
	}
	return s, true
}

// Local reports whether the table holds a session with key k that is this
// unit's: written by Upsert, or by a receiver of origin 0 (active-passive,
// the replica of the unit whose table this one takes over), not by a
// receiver with an origin of its own (another unit's session,
// active-active).
func (t *Table) Local(k Key) bool {
	sh, c, h32 := t.locate(&k)
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	slot := sh.find(&c, h32)
	return slot >= 0 && sh.at(uint32(sh.index[slot])-1).origin == 0
}

// Len returns the number of sessions. It takes no lock, so it may be
// called from Expire's callback.
func (t *Table) Len() int { return int(t.count.Load()) }

// Range calls fn for every session until fn returns false. It locks one
// shard at a time and copies that shard's sessions before calling fn, so fn
// may modify the table; sessions changed during Range may or may not be
// seen.
func (t *Table) Range(fn func(Session) bool) {
	var buf []Session
	for i := range t.shards {
		sh := &t.shards[i]
		sh.mu.RLock()
		buf = buf[:0]
		for idx := uint32(0); idx < sh.hi; idx++ {
			if e := sh.at(idx); e.flags&flagLive != 0 {
				buf = append(buf, Session{})
				sh.get(e, idx, &buf[len(buf)-1])
			}
		}
		sh.mu.RUnlock()
		for j := range buf {
			if !fn(buf[j]) {
				return
			}
		}
	}
}

// Expire removes every session whose Expires deadline is not after now and
// returns how many it removed. If fn is not nil it is called with each
// removed session while the session's shard is locked: fn must not call
// the table's methods other than Len.
func (t *Table) Expire(now time.Time, fn func(Session)) int {
	sec := now.Unix()
	removed := 0
	for i := range t.shards {
		sh := &t.shards[i]
		sh.mu.Lock()
		n := sh.deleteIf(t.seed, func(e *entry) bool {
			return e.expires != 0 && int64(e.expires) <= sec
		}, fn)
		t.count.Add(int64(-n))
		sh.mu.Unlock()
		removed += n
	}
	return removed
}

// deleteIf removes the live entries matching pred; sh must be locked.
func (sh *shard) deleteIf(seed uint64, pred func(*entry) bool, fn func(Session)) int {
	removed := 0
	for idx := uint32(0); idx < sh.hi; idx++ {
		e := sh.at(idx)
		if e.flags&flagLive == 0 || !pred(e) {
			continue
		}
		var s Session
		if fn != nil {
			sh.get(e, idx, &s)
		}
		c := e.k
		sh.remove(sh.find(&c, uint32(hashKey(&c, seed))))
		removed++
		if fn != nil {
			fn(s)
		}
	}
	return removed
}

// sweep removes the entries last written by origin whose generation is not
// gen (stale after a bulk sync) and returns how many it removed.
func (t *Table) sweep(origin, gen uint8) int {
	removed := 0
	for i := range t.shards {
		sh := &t.shards[i]
		sh.mu.Lock()
		n := sh.deleteIf(t.seed, func(e *entry) bool {
			return e.origin == origin && e.gen != gen
		}, nil)
		t.count.Add(int64(-n))
		sh.mu.Unlock()
		removed += n
	}
	return removed
}

// Cursor is a position in a Table for scans that proceed a bounded number
// of sessions at a time (Scan, ScanExpiring, Unmarked). The zero Cursor is
// the beginning. Sessions inserted or removed between two calls may or may
// not be visited; every session present throughout is visited once.
type Cursor uint64

// scanDone is the Cursor of a complete scan.
const scanDone = Cursor(uint64(numShards) << 32)

// Scan appends to dst up to max sessions from c on, holding the lock of
// one shard at a time for reading, and returns them with the Cursor to
// continue from and whether the scan is complete. With a dst of enough
// capacity it allocates nothing.
func (t *Table) Scan(dst []Session, c Cursor, max int) ([]Session, Cursor, bool) {
	return t.scanIf(dst, c, max, nil)
}

// ScanExpiring is Scan restricted to the sessions whose deadline is set
// and not after by (Unix seconds, as Session.Expires): those about to
// expire. It tests each entry before decoding it, so it is cheap on a
// large table where few match.
func (t *Table) ScanExpiring(dst []Session, c Cursor, by uint32, max int) ([]Session, Cursor, bool) {
	return t.scanIf(dst, c, max, func(e *entry) bool { return e.expires != 0 && e.expires <= by })
}

// scanIf appends up to max live sessions matching pred (nil: all) from
// cursor c on.
func (t *Table) scanIf(dst []Session, c Cursor, max int, pred func(*entry) bool) ([]Session, Cursor, bool) {
	c, done := t.walk(c, max, pred, func(sh *shard, e *entry, idx uint32) {
		dst = append(dst, Session{})
		sh.get(e, idx, &dst[len(dst)-1])
	})
	return dst, c, done
}

// walk calls visit, under the shard's read lock, for up to max live
// entries matching pred (nil: all) from cursor c on, and returns the
// cursor to continue from and whether the walk is complete.
func (t *Table) walk(c Cursor, max int, pred func(*entry) bool, visit func(*shard, *entry, uint32)) (Cursor, bool) {
	si, idx := int(c>>32), uint32(c)
	for ; si < numShards; si, idx = si+1, 0 {
		sh := &t.shards[si]
		sh.mu.RLock()
		for ; idx < sh.hi; idx++ {
			if max <= 0 {
				sh.mu.RUnlock()
				return Cursor(uint64(si)<<32 | uint64(idx)), false
			}
			if e := sh.at(idx); e.flags&flagLive != 0 && (pred == nil || pred(e)) {
				visit(sh, e, idx)
				max--
			}
		}
		sh.mu.RUnlock()
	}
	return scanDone, true
}

// Mark starts a reconciliation of the table with its source, on the unit
// whose sessions it holds: every Upsert after Mark stamps its session, and
// Unmarked lists the sessions not upserted since. A conntrack follower
// calls Mark before it dumps the kernel's table, upserts what the dump
// holds, then deletes what Unmarked lists: the sessions the kernel no
// longer has, including those a replica left in the table before this
// unit took over (written with Store). Sessions a receiver with a nonzero
// Origin wrote (another unit's, in active-active) are not this unit's to
// reconcile: Unmarked never lists them.
func (t *Table) Mark() {
	t.mark.Add(1)
}

// Unmarked appends to dst the keys of up to max sessions of origin 0 not
// upserted since the last Mark, scanning from c, and returns them with the
// Cursor to continue from and whether the scan is complete. The caller
// deletes them between calls if it wants: removals do not disturb the
// scan.
func (t *Table) Unmarked(dst []Key, c Cursor, max int) ([]Key, Cursor, bool) {
	m := uint8(t.mark.Load())
	c, done := t.walk(c, max, func(e *entry) bool {
		return e.origin == 0 && (e.flags&flagOwned == 0 || e.gen != m)
	}, func(_ *shard, e *entry, _ uint32) {
		dst = append(dst, e.k.unpack())
	})
	return dst, c, done
}

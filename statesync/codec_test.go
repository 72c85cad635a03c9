package statesync

import (
	"bytes"
	"encoding/binary"
	"io"
	"net/netip"
	"reflect"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestRecordRoundTrip(t *testing.T) {
	v6 := testSession(2)
	v6.ReplySrc = netip.MustParseAddrPort("[2001:db8::1]:80")
	v6.ReplyDst = netip.MustParseAddrPort("198.18.0.9:4000") // mixed families are carried as they are
	half := testSession(1)
	half.ReplyDst = netip.MustParseAddrPort("198.18.0.10:1")
	ftp := testSession(10) // NAT, the ftp helper, a resized PORT command
	ftp.Helper = "ftp"
	ftp.SeqAdj = [2]SeqAdj{{CorrectionPos: 1000, Before: 0, After: -1}, {}}
	sip := testSession(1)
	sip.Helper = "sip"
	for _, tc := range []struct {
		name string
		r    record
		len  int
	}{
		{"upsert-v4", record{recordOp: opUpsert, Session: testSession(1)}, 54},
		{"upsert-v4-nat", record{recordOp: opUpsert, Session: testSession(10)}, 66},
		{"upsert-v6-mixed-nat", record{recordOp: opUpsert, Session: v6}, 54 + 24 + 4 + 20},
		{"upsert-half-nat", record{recordOp: opUpsert, Session: half}, 54 + 4 + 4},
		{"upsert-zero", record{recordOp: opUpsert}, 46},
		{"upsert-helper-seqadj", record{recordOp: opUpsert, Session: ftp}, 66 + 2 + 3 + 24},
		{"upsert-helper", record{recordOp: opUpsert, Session: sip}, 54 + 2 + 3},
		{"delete-v4", record{recordOp: opDelete, Session: Session{Key: testSession(1).Key}}, 17},
		{"delete-v6", record{recordOp: opDelete, Session: Session{Key: testSession(2).Key}}, 41},
		{"bulk-begin", record{recordOp: opBulkBegin, Gen: 7, Total: 1 << 40}, 10},
		{"bulk-end", record{recordOp: opBulkEnd, Gen: 7}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := tc.r.MarshalBinary()
			require.NoError(t, err)
			require.Len(t, b, tc.len)
			require.Equal(t, tc.len, tc.r.EncodedLen())
			var got record
			require.NoError(t, got.UnmarshalBinary(b))
			require.Equal(t, tc.r, got)
			for i := range len(b) { // every truncation is a clean error
				require.ErrorIs(t, got.UnmarshalBinary(b[:i]), io.ErrUnexpectedEOF, "truncated to %d", i)
			}
			require.ErrorIs(t, got.UnmarshalBinary(append(b, 0)), ErrMalformed)
		})
	}
	var r record
	require.ErrorIs(t, r.UnmarshalBinary([]byte{9}), ErrMalformed)
	long := testSession(1)
	long.Helper = "a-helper-name-too-long"
	_, err0 := record{recordOp: opUpsert, Session: long}.MarshalBinary()
	require.ErrorIs(t, err0, ErrMalformed)
	ok, _ := record{recordOp: opUpsert, Session: testSession(1)}.MarshalBinary()
	for _, bad := range [][]byte{
		append(append([]byte{byte(opUpsert | opExt)}, ok[1:]...), 0, 0), // an empty extension
		append(append([]byte{byte(opUpsert | opExt)}, ok[1:]...), 16),   // a name too long
		append(append([]byte{byte(opUpsert | opExt)}, ok[1:]...), 0, 1), // one adjustment
		append([]byte{byte(opDelete | opExt)}, ok[1:17]...),             // no extension on a delete
	} {
		require.ErrorIs(t, r.UnmarshalBinary(bad), ErrMalformed, "%x", bad)
	}
	require.ErrorIs(t, r.UnmarshalBinary([]byte{byte(opUpsert), 3, 0, 0, 0, 0, 0, 0, 0}), ErrMalformed)
	require.ErrorIs(t, r.UnmarshalBinary([]byte{byte(opDelete), 1 << 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}), ErrMalformed)
	_, err := record{}.MarshalBinary()
	require.ErrorIs(t, err, ErrMalformed)
}

func TestHeaderAndAckErrors(t *testing.T) {
	h := header{Version: Version, dgramType: typeData, Auth: true, KeyID: 3, Length: 100,
		Cluster: 7, From: 1, To: 65535, Epoch: 5, Seq: 9, Nonce: 0xfedcba9876543210}
	b, err := h.MarshalBinary()
	require.NoError(t, err)
	require.Len(t, b, headerLen)
	var got header
	require.NoError(t, got.UnmarshalBinary(b))
	require.Equal(t, h, got)

	other := bytes.Clone(b)
	other[2] = 2
	err = got.UnmarshalBinary(other)
	require.ErrorIs(t, err, ErrVersion)
	require.Contains(t, err.Error(), "version 2")
	reserved := bytes.Clone(b)
	reserved[15] = 1
	require.ErrorIs(t, got.UnmarshalBinary(reserved), ErrMalformed)
	require.ErrorIs(t, got.UnmarshalBinary([]byte("hello, world, this is not sync")), ErrNotSync)
	require.ErrorIs(t, got.UnmarshalBinary(b[:10]), io.ErrUnexpectedEOF)
	bad := bytes.Clone(b)
	bad[3] = 9
	require.ErrorIs(t, got.UnmarshalBinary(bad), ErrMalformed)

	a := ackPayload{Epoch: 1, Cum: 10, NeedSync: true, Missing: []seqRange{{12, 13}, {20, 20}}}
	ab, err := a.MarshalBinary()
	require.NoError(t, err)
	var ga ackPayload
	require.NoError(t, ga.UnmarshalBinary(ab))
	require.Equal(t, a, ga)
	overlap := ackPayload{Epoch: 1, Cum: 10, Missing: []seqRange{{12, 13}, {13, 14}}}
	ob, _ := overlap.MarshalBinary()
	require.ErrorIs(t, ga.UnmarshalBinary(ob), ErrMalformed)
	below := ackPayload{Epoch: 1, Cum: 10, Missing: []seqRange{{5, 6}}}
	bb, _ := below.MarshalBinary()
	require.ErrorIs(t, ga.UnmarshalBinary(bb), ErrMalformed)
	_, err = ackPayload{Missing: make([]seqRange, maxRanges+1)}.MarshalBinary()
	require.ErrorIs(t, err, ErrMalformed)
}

// TestFramerIdentity: a core drops datagrams of another cluster, from
// another unit than its peer or for another unit than itself, and counts
// them; units 0 are not checked.
func TestFramerIdentity(t *testing.T) {
	seal := func(id identity) []byte {
		f := newFramer(nil, id)
		b := f.begin(nil, typeProbe, 1, 1, 0)
		b, _ = probePayload{}.AppendBinary(b)
		return f.seal(b)
	}
	r := newFramer(nil, identity{Cluster: 7, Self: 2, Peer: 1})
	for _, tc := range []struct {
		from identity
		err  error
	}{
		{identity{Cluster: 7, Self: 1, Peer: 2}, nil},
		{identity{Cluster: 8, Self: 1, Peer: 2}, ErrCluster},
		{identity{Cluster: 7, Self: 3, Peer: 2}, ErrPeer},
		{identity{Cluster: 7, Self: 1, Peer: 3}, ErrPeer},
	} {
		h, _, err := r.open(seal(tc.from))
		if tc.err == nil {
			require.NoError(t, err)
			require.Equal(t, uint16(1), h.From)
			continue
		}
		require.ErrorIs(t, err, tc.err, "%+v", tc.from)
	}
	anon := newFramer(nil, identity{Cluster: 7})
	_, _, err := anon.open(seal(identity{Cluster: 7, Self: 9, Peer: 4}))
	require.NoError(t, err, "unit 0 checks nothing")

	rcv, err := NewReceiver(t0, &ReceiverConfig{Table: NewTable(0), Cluster: 7, Unit: 2, Peer: 1})
	require.NoError(t, err)
	require.ErrorIs(t, rcv.Step(t0, seal(identity{Cluster: 8, Self: 1, Peer: 2})), ErrCluster)
	require.ErrorIs(t, rcv.Step(t0, seal(identity{Cluster: 7, Self: 5, Peer: 2})), ErrPeer)
	st := rcv.Stats()
	require.Equal(t, uint64(1), st.DropCluster)
	require.Equal(t, uint64(1), st.DropPeer)
}

// newPair returns a sender and receiver over fresh tables with key.
func newPair(t *testing.T, skey, rkey []byte) (*Sender, *Receiver, *Table, *Table) {
	t.Helper()
	src, dst := NewTable(0), NewTable(0)
	s, err := NewSender(t0, &SenderConfig{Table: src, Keys: testKeys(t, skey)})
	require.NoError(t, err)
	r, err := NewReceiver(t0, &ReceiverConfig{Table: dst, Keys: testKeys(t, rkey)})
	require.NoError(t, err)
	introduce(s, r)
	return s, r, src, dst
}

func TestBadInputCountedAndDropped(t *testing.T) {
	key := []byte("0123456789abcdef")
	s, r, src, dst := newPair(t, key, key)
	s.Tick(t0)
	for _, b := range s.Output(nil) {
		require.NoError(t, r.Step(t0, b))
	}
	for i := range 40 {
		s.Upsert(t0, src.Upsert(testSession(i)))
	}
	s.Flush(t0)
	out := s.Output(nil)
	require.GreaterOrEqual(t, len(out), 2)
	good := bytes.Clone(out[0])

	forged := bytes.Clone(good)
	forged[headerLen+10] ^= 1 // a flipped bit in a record
	require.ErrorIs(t, r.Step(t0, forged), ErrAuth)
	require.Zero(t, dst.Len(), "nothing of a forged datagram is applied")

	wrongKey, _, _, _ := newPair(t, []byte("another key....."), nil)
	wrongKey.Tick(t0)
	require.ErrorIs(t, r.Step(t0, wrongKey.Output(nil)[0]), ErrAuth)

	unauth, _, _, _ := newPair(t, nil, nil)
	unauth.Tick(t0)
	require.ErrorIs(t, r.Step(t0, unauth.Output(nil)[0]), ErrAuth)

	v2 := bytes.Clone(good)
	v2[2] = 1 // the previous version
	err := r.Step(t0, v2)
	require.ErrorIs(t, err, ErrVersion)

	for i := range len(good) - 1 {
		require.Error(t, r.Step(t0, good[:i]), "truncated to %d", i)
	}
	require.Zero(t, dst.Len())

	require.NoError(t, r.Step(t0, good))
	applied := dst.Len()
	require.NotZero(t, applied)
	require.NoError(t, r.Step(t0, good)) // a duplicate is harmless
	require.Equal(t, uint64(1), r.Stats().Duplicate)

	// A replay of an older epoch is rejected once a newer one is seen.
	s2, err := NewSender(t0.Add(time.Hour), &SenderConfig{Table: src, Keys: testKeys(t, key)})
	require.NoError(t, err)
	introduce(s2, r)
	s2.Tick(t0)
	for _, b := range s2.Output(nil) {
		require.NoError(t, r.Step(t0, b))
	}
	require.ErrorIs(t, r.Step(t0, good), ErrReplay)

	st := r.Stats()
	require.Equal(t, uint64(3), st.DropAuth)
	require.Equal(t, uint64(1), st.DropVersion)
	require.Equal(t, uint64(1), st.DropReplay)
	require.Equal(t, uint64(len(good)-1), st.DropMalformed)
}

// A datagram whose last record is bad is dropped whole: no record of it is
// applied (authentication off, so that the bad record gets to the decoder).
func TestBatchNeverHalfApplied(t *testing.T) {
	s, r, src, dst := newPair(t, nil, nil)
	s.Tick(t0)
	for _, b := range s.Output(nil) {
		require.NoError(t, r.Step(t0, b))
	}
	for i := range 10 {
		s.Upsert(t0, src.Upsert(testSession(i)))
	}
	s.Flush(t0)
	b := bytes.Clone(s.Output(nil)[0])
	bad := append(bytes.Clone(b), byte(opUpsert), 3) // truncated, bad family
	binary.BigEndian.PutUint16(bad[6:8], uint16(len(bad)))
	require.Error(t, r.Step(t0, bad))
	require.Zero(t, dst.Len())
	// The stream cannot go on past an authentic-looking bad datagram: the
	// receiver asks for a resync rather than stall.
	r.Tick(t0.Add(time.Second))
	var a ackPayload
	out := r.Output(nil)
	require.Len(t, out, 1)
	require.NoError(t, a.UnmarshalBinary(out[0][headerLen:]))
	require.True(t, a.NeedSync)
	require.NoError(t, s.Step(t0, out[0]))
	require.Equal(t, uint64(1), s.Stats().Resyncs)
}

func TestSenderRejectsBadAcks(t *testing.T) {
	key := []byte("k")
	s, r, _, _ := newPair(t, key, key)
	s.Tick(t0)
	for _, b := range s.Output(nil) {
		require.NoError(t, r.Step(t0, b))
	}
	r.Tick(t0.Add(time.Second))
	ack := bytes.Clone(r.Output(nil)[0])
	require.NoError(t, s.Step(t0, ack))
	require.ErrorIs(t, s.Step(t0, ack), ErrReplay)
	forged := bytes.Clone(ack)
	forged[headerLen] ^= 1
	require.ErrorIs(t, s.Step(t0, forged), ErrAuth)
	require.ErrorIs(t, s.Step(t0, []byte{1, 2, 3}), ErrNotSync)
	st := s.Stats()
	require.Equal(t, uint64(1), st.DropReplay)
	require.Equal(t, uint64(1), st.DropAuth)
	require.Equal(t, uint64(1), st.DropMalformed)
}

func FuzzRecord(f *testing.F) {
	for i := range 6 {
		b, _ := record{recordOp: opUpsert, Session: testSession(i)}.MarshalBinary()
		f.Add(b)
	}
	d, _ := record{recordOp: opDelete, Session: Session{Key: testSession(2).Key}}.MarshalBinary()
	f.Add(d)
	ftp := testSession(10)
	ftp.Helper, ftp.SeqAdj = "ftp", [2]SeqAdj{{CorrectionPos: 7, After: 3}, {CorrectionPos: 9, Before: -2}}
	x, _ := record{recordOp: opUpsert, Session: ftp}.MarshalBinary()
	f.Add(x)
	f.Add([]byte{byte(opBulkBegin), 1, 0, 0, 0, 0, 0, 0, 0, 9})
	for _, r := range expectRecords() { // expect_test.go
		b, _ := r.MarshalBinary()
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var r record
		if err := r.UnmarshalBinary(b); err != nil {
			return
		}
		m1, err := r.MarshalBinary()
		if err != nil {
			t.Fatalf("marshal: %v", err)
		}
		if !bytes.Equal(m1, b) {
			t.Fatalf("not canonical: %x -> %x", b, m1)
		}
		var r2 record
		if err := r2.UnmarshalBinary(m1); err != nil {
			t.Fatalf("unmarshal: %v", err)
		}
		if !reflect.DeepEqual(r, r2) {
			t.Fatalf("%+v != %+v", r, r2)
		}
		m2, _ := r2.MarshalBinary()
		if !bytes.Equal(m1, m2) {
			t.Fatalf("%x != %x", m1, m2)
		}
	})
}

func FuzzAck(f *testing.F) {
	b, _ := ackPayload{Epoch: 1, Cum: 10, Missing: []seqRange{{12, 13}}}.MarshalBinary()
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		var a ackPayload
		if err := a.UnmarshalBinary(b); err != nil {
			return
		}
		m1, err := a.MarshalBinary()
		if err != nil || !bytes.Equal(m1, b) {
			t.Fatalf("%v %x -> %x", err, b, m1)
		}
		var a2 ackPayload
		if err := a2.UnmarshalBinary(m1); err != nil || !reflect.DeepEqual(a, a2) {
			t.Fatalf("%v %+v != %+v", err, a, a2)
		}
	})
}

// FuzzDatagram feeds arbitrary bytes to a receiver and a sender (with and
// without a key): never a panic, and a receiver's table only changes
// through datagrams that decoded whole.
func FuzzDatagram(f *testing.F) {
	src := NewTable(0)
	for i := range 30 {
		src.Upsert(testSession(i))
	}
	s, _ := NewSender(t0, &SenderConfig{Table: src, MTU: 512})
	s.Tick(t0)
	for _, b := range s.Output(nil) {
		f.Add(bytes.Clone(b))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		dst := NewTable(0)
		r, _ := NewReceiver(t0, &ReceiverConfig{Table: dst})
		if err := r.Step(t0, b); err != nil {
			require.Zero(t, dst.Len())
		}
		r.Tick(t0.Add(time.Second))
		r.Commit(t0)
		rk, _ := NewReceiver(t0, &ReceiverConfig{Table: NewTable(0), Keys: testKeys(t, []byte("k"))})
		require.Error(t, rk.Step(t0, b)) // unauthenticated: never accepted
		snd, _ := NewSender(t0, &SenderConfig{Table: NewTable(0)})
		_ = snd.Step(t0, b)
		snd.Tick(t0.Add(time.Second))
		// The header round trip.
		var h header
		if h.UnmarshalBinary(b) == nil {
			m, _ := h.MarshalBinary()
			require.Equal(t, b[:headerLen], m)
		}
	})
}

package election

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hakit/hakit"
)

func fullCandidate() Candidate {
	return Candidate{
		Unit: 7, Role: hakit.Primary, Priority: 200, Monitored: 3, InSync: true,
		Age: 90 * time.Minute, Maintenance: true, Degraded: true, Yield: true,
		Reclaim: true, Peer: 4, Deposes: 9, Tenure: 30 * time.Second,
	}
}

func TestCandidateRoundTrip(t *testing.T) {
	tests := []Candidate{
		{Unit: 1, Role: hakit.Initial},
		{Unit: 65535, Role: hakit.Secondary, Ready: true, Peer: 1, Age: time.Millisecond},
		fullCandidate(),
	}
	for _, c := range tests {
		b, err := c.MarshalBinary()
		require.NoError(t, err)
		require.Len(t, b, CandidateLen)
		var got Candidate
		require.NoError(t, got.UnmarshalBinary(b))
		require.Equal(t, c, got)
	}
}

func TestCandidateEncoding(t *testing.T) {
	b, err := fullCandidate().MarshalBinary()
	require.NoError(t, err)
	want := []byte{
		2,          // version
		2,          // primary
		0x2f,       // InSync|Maintenance|Degraded|Yield|Reclaim
		200,        // priority
		0, 7, 0, 3, // unit, monitored
		0, 4, 0, 9, // peer, deposes
		0, 0, 0, 0, 0, 0x52, 0x65, 0xc0, // age 5 400 000 ms
		0, 0, 0, 0, 0, 0, 0x75, 0x30, // tenure 30 000 ms
	}
	require.Equal(t, want, b)
}

func TestCandidateInvalid(t *testing.T) {
	good, err := Candidate{Unit: 2, Role: hakit.Secondary}.MarshalBinary()
	require.NoError(t, err)
	mod := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(good)) }
	tests := []struct {
		name string
		b    []byte
		want error
	}{
		{"empty", nil, io.ErrUnexpectedEOF},
		{"short", good[:CandidateLen-1], io.ErrUnexpectedEOF},
		{"version 0", mod(func(b []byte) []byte { b[0] = 0; return b }), ErrVersion},
		{"version 1", mod(func(b []byte) []byte { b[0] = 1; return b }), ErrVersion},
		{"version 3", mod(func(b []byte) []byte { b[0] = 3; return b }), ErrVersion},
		{"trailing", append(bytes.Clone(good), 0), ErrInvalid},
		{"role 0", mod(func(b []byte) []byte { b[1] = 0; return b }), ErrInvalid},
		{"role 4", mod(func(b []byte) []byte { b[1] = 4; return b }), ErrInvalid},
		{"unknown flag", mod(func(b []byte) []byte { b[2] = 0x40; return b }), ErrInvalid},
		{"unit 0", mod(func(b []byte) []byte { b[4], b[5] = 0, 0; return b }), ErrInvalid},
		{"yield without peer", mod(func(b []byte) []byte { b[2] = flagYield; return b }), ErrInvalid},
		{"peer without flag", mod(func(b []byte) []byte { b[9] = 1; return b }), ErrInvalid},
		{"yield and ready", mod(func(b []byte) []byte { b[2] = flagYield | flagReady; b[9] = 1; return b }), ErrInvalid},
		{"names itself", mod(func(b []byte) []byte { b[11] = 2; return b }), ErrInvalid},
		{"ready primary", mod(func(b []byte) []byte { b[1] = byte(hakit.Primary); b[2] = flagReady; b[9] = 1; return b }), ErrInvalid},
		{"age overflow", mod(func(b []byte) []byte { b[12] = 0xff; return b }), ErrInvalid},
		{"tenure overflow", mod(func(b []byte) []byte { b[20] = 0x80; return b }), ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Candidate{Unit: 99, Role: hakit.Primary}
			err := c.UnmarshalBinary(tt.b)
			require.ErrorIs(t, err, tt.want)
			require.Contains(t, err.Error(), "election: ")
			require.Equal(t, Candidate{Unit: 99, Role: hakit.Primary}, c, "left unchanged on error")
		})
	}
	_, err = Candidate{Unit: 1, Role: hakit.Primary, Age: -time.Second}.MarshalBinary()
	require.ErrorIs(t, err, ErrInvalid)
}

func TestCandidateDoesNotAlias(t *testing.T) {
	b, err := fullCandidate().MarshalBinary()
	require.NoError(t, err)
	var c Candidate
	require.NoError(t, c.UnmarshalBinary(b))
	clear(b)
	require.Equal(t, fullCandidate(), c)
}

func FuzzCandidate(f *testing.F) {
	for _, c := range []Candidate{{Unit: 1, Role: hakit.Initial}, fullCandidate()} {
		b, _ := c.MarshalBinary()
		f.Add(b)
	}
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, b []byte) {
		var c Candidate
		if err := c.UnmarshalBinary(b); err != nil {
			return
		}
		b1, err := c.MarshalBinary()
		if err != nil {
			t.Fatalf("marshal of decoded %+v: %v", c, err)
		}
		var c2 Candidate
		if err := c2.UnmarshalBinary(b1); err != nil {
			t.Fatalf("unmarshal of re-encoded %x: %v", b1, err)
		}
		if !reflect.DeepEqual(c, c2) {
			t.Fatalf("round trip: %+v != %+v", c, c2)
		}
		b2, _ := c2.MarshalBinary()
		if !bytes.Equal(b1, b2) {
			t.Fatalf("re-encoding differs: %x != %x", b1, b2)
		}
		if !bytes.Equal(b, b1) {
			t.Fatalf("decoded %x but encodes as %x", b, b1)
		}
	})
}

func TestCandidateZeroAllocs(t *testing.T) {
	c := fullCandidate()
	buf := make([]byte, 0, 64)
	b, _ := c.AppendBinary(buf)
	var d Candidate
	allocs := testing.AllocsPerRun(100, func() {
		b, _ = c.AppendBinary(buf[:0])
		_ = d.UnmarshalBinary(b)
	})
	require.Zero(t, allocs)
	require.False(t, errors.Is(d.Validate(), ErrInvalid))
}

func BenchmarkCandidateAppendBinary(b *testing.B) {
	c := fullCandidate()
	buf := make([]byte, 0, 64)
	b.ReportAllocs()
	for b.Loop() {
		buf, _ = c.AppendBinary(buf[:0])
	}
}

func BenchmarkCandidateUnmarshalBinary(b *testing.B) {
	enc, _ := fullCandidate().MarshalBinary()
	var c Candidate
	b.ReportAllocs()
	for b.Loop() {
		if err := c.UnmarshalBinary(enc); err != nil {
			b.Fatal(err)
		}
	}
}

package auth

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hakit/hakit"
)

var (
	keyA = hakit.Key{ID: 1, Secret: []byte("0123456789abcdef")}
	keyB = hakit.Key{ID: 2, Secret: []byte("fedcba9876543210")}
)

func ring(t testing.TB, keys ...hakit.Key) *hakit.Keyring {
	t.Helper()
	k, err := hakit.NewKeyring(keys[0], keys[1:]...)
	require.NoError(t, err)
	return k
}

func TestTagVerify(t *testing.T) {
	m := New(ring(t, keyA), "hakit test v1")
	id := m.Primary()
	require.Equal(t, uint8(1), id)
	tag := bytes.Clone(m.Tag(id, []byte{0xc1, 0x4b}, []byte("body")))
	require.Len(t, tag, TagLen)
	require.True(t, m.Verify(id, []byte{0xc1, 0x4b}, []byte("body"), tag))
	require.False(t, m.Verify(id, []byte{0xc1, 0x4c}, []byte("body"), tag), "prefix")
	require.False(t, m.Verify(id, []byte{0xc1, 0x4b}, []byte("bodY"), tag), "body")
	require.False(t, m.Verify(2, []byte{0xc1, 0x4b}, []byte("body"), tag), "unknown key")
	require.Nil(t, m.Tag(2, nil, nil))
	require.False(t, m.Known(2))
}

// TestProtocolsDoNotShareKeys: the same secret gives unrelated tags in two
// protocols, and neither is the plain HMAC of the secret.
func TestProtocolsDoNotShareKeys(t *testing.T) {
	r := ring(t, keyA)
	hb, sync := New(r, "hakit heartbeat v1"), New(r, "hakit statesync v1")
	a := bytes.Clone(hb.Tag(hb.Primary(), nil, []byte("same bytes")))
	b := bytes.Clone(sync.Tag(sync.Primary(), nil, []byte("same bytes")))
	require.NotEqual(t, a, b)
	require.False(t, sync.Verify(1, nil, []byte("same bytes"), a))
}

// TestRotation: a MAC follows Set at its next call; the three steps of a
// rotation never leave a tag of one side unverifiable on the other.
func TestRotation(t *testing.T) {
	rs, rr := ring(t, keyA), ring(t, keyA)
	send, recv := New(rs, "p"), New(rr, "p")
	check := func(step string) {
		t.Helper()
		id := send.Primary()
		tag := bytes.Clone(send.Tag(id, nil, []byte(step)))
		require.True(t, recv.Verify(id, nil, []byte(step), tag), step)
	}
	check("start")
	require.NoError(t, rr.Set(keyA, keyB))
	check("receiver accepts B")
	require.NoError(t, rs.Set(keyA, keyB))
	check("sender accepts B")
	require.NoError(t, rs.Set(keyB, keyA))
	require.Equal(t, uint8(2), send.Primary())
	check("sender seals with B")
	require.NoError(t, rr.Set(keyB, keyA))
	check("receiver seals with B")
	require.NoError(t, rs.Set(keyB))
	require.NoError(t, rr.Set(keyB))
	check("A dropped")
	require.False(t, recv.Known(1))
}

func TestZeroAllocs(t *testing.T) {
	m := New(ring(t, keyA, keyB), "p")
	body, prefix := make([]byte, 64), []byte{1, 2}
	tag := bytes.Clone(m.Tag(1, nil, body))
	allocs := testing.AllocsPerRun(100, func() {
		id := m.Primary()
		m.Tag(id, prefix, body)
		m.Verify(1, nil, body, tag)
	})
	require.Zero(t, allocs)
}

package hakit_test

import (
	"bytes"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hakit/hakit"
)

var (
	keyA = hakit.Key{ID: 1, Secret: []byte("0123456789abcdef")}
	keyB = hakit.Key{ID: 2, Secret: []byte("fedcba9876543210fedcba98")}
)

func TestNewKeyringRefuses(t *testing.T) {
	for _, tt := range []struct {
		name string
		keys []hakit.Key
	}{
		{"id 0", []hakit.Key{{ID: 0, Secret: keyA.Secret}}},
		{"short secret", []hakit.Key{{ID: 1, Secret: make([]byte, hakit.MinKeyLen-1)}}},
		{"no secret", []hakit.Key{{ID: 1}}},
		{"all zeros", []hakit.Key{{ID: 1, Secret: make([]byte, 32)}}},
		{"duplicate", []hakit.Key{keyA, {ID: 1, Secret: keyB.Secret}}},
		{"bad other", []hakit.Key{keyA, {ID: 2, Secret: []byte("short")}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			k, err := hakit.NewKeyring(tt.keys[0], tt.keys[1:]...)
			require.ErrorIs(t, err, hakit.ErrConfig)
			require.Nil(t, k)
		})
	}
}

func TestKeyringSet(t *testing.T) {
	k, err := hakit.NewKeyring(keyA)
	require.NoError(t, err)
	g := k.Generation()
	require.Equal(t, []hakit.Key{keyA}, k.Keys())

	require.NoError(t, k.Set(keyB, keyA))
	require.NotEqual(t, g, k.Generation())
	require.Equal(t, []hakit.Key{keyB, keyA}, k.Keys(), "the primary first")

	// A refused Set changes nothing.
	g = k.Generation()
	require.ErrorIs(t, k.Set(keyA, keyA), hakit.ErrConfig)
	require.Equal(t, g, k.Generation())
	require.Equal(t, []hakit.Key{keyB, keyA}, k.Keys())

	// The ring copies secrets in and out.
	secret := bytes.Clone(keyA.Secret)
	require.NoError(t, k.Set(hakit.Key{ID: 1, Secret: secret}))
	secret[0] ^= 1
	got := k.Keys()
	require.Equal(t, keyA.Secret, got[0].Secret)
	got[0].Secret[0] ^= 1
	require.Equal(t, keyA.Secret, k.Keys()[0].Secret)
}

// TestKeyringConcurrent: readers see a consistent set while Set runs (run
// with -race).
func TestKeyringConcurrent(t *testing.T) {
	k, err := hakit.NewKeyring(keyA)
	require.NoError(t, err)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 1000 {
				keys := k.Keys()
				if len(keys) == 0 || (keys[0].ID != 1 && keys[0].ID != 2) {
					t.Errorf("bad keys %v", keys)
					return
				}
				_ = k.Generation()
			}
		})
	}
	for i := range 1000 {
		if i%2 == 0 {
			require.NoError(t, k.Set(keyB, keyA))
		} else {
			require.NoError(t, k.Set(keyA))
		}
	}
	wg.Wait()
}

// Rotating the cluster's key without a restart: each step is done on every
// unit before the next one starts.
func ExampleKeyring() {
	old := hakit.Key{ID: 1, Secret: []byte("the old shared secret")}
	next := hakit.Key{ID: 2, Secret: []byte("the next shared secret")}
	ring, err := hakit.NewKeyring(old)
	if err != nil {
		panic(err)
	}
	// ... give ring to heartbeat.Config.Keys and statesync's Keys ...

	steps := [][]hakit.Key{
		{old, next}, // every unit accepts the next key
		{next, old}, // every unit seals with it
		{next},      // the old key is dropped
	}
	for _, s := range steps {
		if err := ring.Set(s[0], s[1:]...); err != nil {
			panic(err)
		}
		var ids []uint8
		for _, k := range ring.Keys() {
			ids = append(ids, k.ID)
		}
		fmt.Println("seals with", ids[0], "verifies", ids)
	}
	// Output:
	// seals with 1 verifies [1 2]
	// seals with 2 verifies [2 1]
	// seals with 2 verifies [2]
}

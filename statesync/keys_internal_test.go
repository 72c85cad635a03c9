package statesync

import (
	"testing"

	"github.com/hakit/hakit"
)

// testKeys returns nil for no secret, else a Keyring of one key (ID 1)
// whose secret is secret padded to hakit.MinKeyLen bytes.
func testKeys(t testing.TB, secret []byte) *hakit.Keyring {
	t.Helper()
	if len(secret) == 0 {
		return nil
	}
	s := string(secret)
	for len(s) < hakit.MinKeyLen {
		s += "."
	}
	k, err := hakit.NewKeyring(hakit.Key{ID: 1, Secret: []byte(s)})
	if err != nil {
		t.Fatal(err)
	}
	return k
}

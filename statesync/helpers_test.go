package statesync_test

import (
	"net/netip"
	"testing"

	"github.com/hakit/hakit"
)

func addrPort(a, b byte, i int, port uint16) netip.AddrPort {
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte{a, b, byte(i >> 8), byte(i)}), port)
}

// testKeys returns a Keyring of one key (ID 1) whose secret is secret
// padded to hakit.MinKeyLen bytes.
func testKeys(t testing.TB, secret string) *hakit.Keyring {
	t.Helper()
	for len(secret) < hakit.MinKeyLen {
		secret += "."
	}
	k, err := hakit.NewKeyring(hakit.Key{ID: 1, Secret: []byte(secret)})
	if err != nil {
		t.Fatal(err)
	}
	return k
}

package auth

import "testing"

func TestNonce(t *testing.T) {
	seen := map[uint64]bool{}
	for range 1000 {
		n := Nonce()
		if n == 0 || seen[n] {
			t.Fatalf("nonce %d: zero or drawn twice", n)
		}
		seen[n] = true
	}
}

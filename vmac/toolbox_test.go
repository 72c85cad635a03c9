package vmac

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestCheckHost(t *testing.T) {
	tests := []struct {
		p  string
		ok bool
	}{
		{"198.18.0.10/24", true},
		{"198.18.0.0/24", false},
		{"198.18.0.255/24", false},
		{"198.18.1.0/23", true},
		{"198.18.0.0/23", false},
		{"198.18.1.255/23", false},
		{"198.18.0.0/31", true},
		{"198.18.0.1/31", true},
		{"198.18.0.0/32", true},
		{"2001:db8::/64", true}, // IPv6 has no broadcast; the subnet-router anycast is the kernel's business
	}
	for _, tt := range tests {
		t.Run(tt.p, func(t *testing.T) {
			err := checkHost(netip.MustParsePrefix(tt.p))
			if tt.ok {
				require.NoError(t, err)
			} else {
				require.ErrorIs(t, err, ErrInvalid)
			}
		})
	}
}

func TestCheckVIP(t *testing.T) {
	for _, s := range []string{"198.18.0.1", "2001:db8::1", "10.0.0.1"} {
		require.NoError(t, checkVIP(netip.MustParseAddr(s)), s)
	}
	for _, s := range []string{"0.0.0.0", "127.0.0.1", "224.0.0.18", "255.255.255.255", "169.254.1.1", "::", "::1", "fe80::1", "ff02::1", "::ffff:198.18.0.1", "fe80::1%eth0"} {
		require.ErrorIs(t, checkVIP(netip.MustParseAddr(s)), ErrInvalid, s)
	}
	require.ErrorIs(t, checkVIP(netip.Addr{}), ErrInvalid)
}

func TestCheckIfname(t *testing.T) {
	for _, s := range []string{"eth0", "eth0.10", "vmac-1", "a23456789012345"} {
		require.NoError(t, checkIfname(s), s)
	}
	for _, s := range []string{"", ".", "..", "a234567890123456", "a/b", "a b", "a:1", "a\x00"} {
		require.ErrorIs(t, checkIfname(s), ErrInvalid, s)
	}
}

func TestHandleRelease(t *testing.T) {
	var order []int
	h := &Handle{}
	for i := range 3 {
		h.push(func() error { order = append(order, i); return nil })
	}
	require.NoError(t, h.Release())
	require.Equal(t, []int{2, 1, 0}, order, "reverse order")
	require.NoError(t, h.Release())
	require.Len(t, order, 3, "second Release is a no-op")

	// Every step runs even when one fails; the errors are joined.
	var ran int
	h = &Handle{}
	h.push(func() error { ran++; return ErrNoInterface })
	h.push(func() error { ran++; return ErrInvalid })
	err := h.Release()
	require.Equal(t, 2, ran)
	require.ErrorIs(t, err, ErrNoInterface)
	require.ErrorIs(t, err, ErrInvalid)
}

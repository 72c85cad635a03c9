package hakit_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hakit/hakit"
)

func TestRole(t *testing.T) {
	// The numbers are on the wire (heartbeat frames and source MACs).
	require.Equal(t, hakit.Role(1), hakit.Initial)
	require.Equal(t, hakit.Role(2), hakit.Primary)
	require.Equal(t, hakit.Role(3), hakit.Secondary)
	for _, tt := range []struct {
		r     hakit.Role
		name  string
		valid bool
	}{
		{0, "Role(0)", false},
		{hakit.Initial, "initial", true},
		{hakit.Primary, "primary", true},
		{hakit.Secondary, "secondary", true},
		{4, "Role(4)", false},
		{255, "Role(255)", false},
	} {
		require.Equal(t, tt.name, tt.r.String())
		require.Equal(t, tt.valid, tt.r.Valid(), "%v", tt.r)
	}
}

func ExampleRole() {
	for r := hakit.Role(0); r <= 4; r++ {
		fmt.Println(uint8(r), r, r.Valid())
	}
	// Output:
	// 0 Role(0) false
	// 1 initial true
	// 2 primary true
	// 3 secondary true
	// 4 Role(4) false
}

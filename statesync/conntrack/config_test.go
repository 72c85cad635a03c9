package conntrack

import (
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hakit/hakit"
)

func TestConfigValidate(t *testing.T) {
	var nilCfg *Config
	require.NoError(t, nilCfg.Validate(), "nil means the defaults")
	require.NoError(t, DefaultConfig().Validate())
	require.NoError(t, (&Config{Refresh: -1}).Validate(), "no refresh")
	for name, c := range map[string]*Config{
		"ahead not beyond refresh": {Refresh: 5 * time.Second, RefreshAhead: 5 * time.Second},
		"negative buffer":          {ReadBuffer: -1},
		"negative default timeout": {DefaultTimeout: -time.Second},
		"bad prefix":               {Rules: &Rules{Addrs: []netip.Prefix{{}}}},
		"bad state":                {Rules: &Rules{TCPStates: []uint8{42}}},
	} {
		require.ErrorIs(t, c.Validate(), hakit.ErrConfig, name)
	}
	d := (&Config{Refresh: 2 * time.Second}).withDefaults()
	require.Equal(t, 6*time.Second, d.RefreshAhead, "3 × Refresh when that is longer than the default")
}

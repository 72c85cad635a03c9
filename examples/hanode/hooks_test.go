package main

import (
	"bytes"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestParseConfigNotify(t *testing.T) {
	c, err := parseConfig([]string{"-insecure-no-auth", "-unit-id", "1", "-iface", "eth0"}, &bytes.Buffer{})
	require.NoError(t, err)
	require.Equal(t, hookFlags{Timeout: 10 * time.Second}, c.Hooks, "no hook by default")

	c, err = parseConfig([]string{"-insecure-no-auth", "-unit-id", "1", "-iface", "eth0", "-notify", `logger -t hanode "$HAKIT_EVENT"`, "-notify-timeout", "3s"}, &bytes.Buffer{})
	require.NoError(t, err)
	require.Equal(t, hookFlags{Command: `logger -t hanode "$HAKIT_EVENT"`, Timeout: 3 * time.Second}, c.Hooks)

	for _, bad := range []string{"0s", "-1s"} {
		_, err = parseConfig([]string{"-insecure-no-auth", "-unit-id", "1", "-iface", "eth0", "-notify", "true", "-notify-timeout", bad}, &bytes.Buffer{})
		require.ErrorIs(t, err, errConfig, bad)
	}
}

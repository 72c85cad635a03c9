package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

const sampleFile = `
cluster-id = 7
unit-id = 2
priority = 120
iface = ["eth0", "eth1", "eth2"]
vip = ["eth0=198.18.1.1/24", "eth1=198.18.2.1/24"]
preempt = true
preempt-delay = "2s"
interval = "50ms"
log-level = "debug"

[[check]]
name = "haproxy"
script = "/usr/local/bin/check-haproxy --quick"
interval = "1s"
timeout = "500ms"
rise = 2
fall = 3
weight = 20

[[check]]
name = "gw"
neighbour = "198.18.1.254"
interface = "eth0"

[[check]]
name = "maintenance"
file = "/run/hanode/down"
`

func writeFile(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "hanode.toml")
	require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
	return path
}

// TestConfigFile: every key is a flag's name; the command line overrides
// the file, a list flag as a whole.
func TestConfigFile(t *testing.T) {
	path := writeFile(t, sampleFile)
	c, err := parseConfig([]string{"-config", path}, &bytes.Buffer{})
	require.NoError(t, err)
	require.Equal(t, uint16(7), c.ClusterID)
	require.Equal(t, uint8(120), c.Priority)
	require.Equal(t, []string{"eth0", "eth1", "eth2"}, c.Ifaces)
	require.Len(t, c.VIPs, 2)
	require.True(t, c.Preempt)
	require.Equal(t, 2*time.Second, c.PreemptDelay)
	require.Equal(t, 2*time.Second, c.memberConfig().ElectionConfig().PreemptDelay)
	require.Equal(t, 50*time.Millisecond, c.Interval)
	require.Len(t, c.Checks, 3)
	require.Equal(t, argv{"/usr/local/bin/check-haproxy", "--quick"}, c.Checks[0].Script)
	require.Equal(t, duration(500*time.Millisecond), c.Checks[0].Timeout)
	require.Equal(t, 20, c.Checks[0].Weight)
	require.Equal(t, "eth0", c.Checks[1].Interface)

	c, err = parseConfig([]string{"-priority", "200", "-config", path, "-iface", "eth9", "-preempt=false"}, &bytes.Buffer{})
	require.NoError(t, err)
	require.Equal(t, uint8(200), c.Priority)
	require.Equal(t, []string{"eth9"}, c.Ifaces, "the command line's list replaces the file's")
	require.False(t, c.Preempt)
	require.Equal(t, uint16(7), c.ClusterID)
}

// TestConfigFileRoundTrip: -check-config prints the effective
// configuration, and that file gives the same configuration back.
func TestConfigFileRoundTrip(t *testing.T) {
	c, err := parseConfig([]string{"-check-config", writeFile(t, sampleFile), "-priority", "90"}, &bytes.Buffer{})
	require.NoError(t, err)
	require.True(t, c.CheckOnly)
	out := renderConfig(c.Flags, c.Checks)
	require.Contains(t, out, "priority = 90\n")
	require.Contains(t, out, `iface = ["eth0", "eth1", "eth2"]`)
	require.Contains(t, out, "[[check]]")
	c2, err := parseConfig([]string{"-config", writeFile(t, out)}, &bytes.Buffer{})
	require.NoError(t, err)
	require.Equal(t, c.Flags, c2.Flags)
	require.Equal(t, c.Checks, c2.Checks)
	require.Equal(t, out, renderConfig(c2.Flags, c2.Checks))
}

func TestConfigFileErrors(t *testing.T) {
	for _, c := range []struct{ file, err string }{
		{"unit-id = 1\niface = [\"eth0\"]\nprioirty = 3\n", `unknown key "prioirty"`},
		{"unit-id = 1\niface = \"eth0\"\npreempt = \"yes\"\n", "preempt: want true or false"},
		{"unit-id = 1\niface = [\"eth0\"]\ninterval = 5\n", `invalid value "5"`},
		{"unit-id = 1\niface = [\"eth0\"]\npriority = [1]\n", "priority: not a list"},
		{"unit-id = 1\niface = [\"eth0\"]\nconfig = \"x\"\n", `unknown key "config"`},
		{"unit-id = [", "toml"},
		{"unit-id = 1\niface = [\"eth0\"]\n[[check]]\nname = \"a\"\n", "want exactly one of script"},
		{"unit-id = 1\niface = [\"eth0\"]\n[[check]]\nname = \"a\"\nfile = \"/x\"\nlink = \"eth0\"\n", "want exactly one of script"},
		{"unit-id = 1\niface = [\"eth0\"]\n[[check]]\nname = \"a\"\nfile = \"/x\"\n[[check]]\nname = \"a\"\nfile = \"/y\"\n", "name given twice"},
		{"unit-id = 1\niface = [\"eth0\"]\n[[check]]\nname = \"gw\"\nneighbour = \"198.18.1.1\"\n", "needs its interface"},
		{"unit-id = 1\niface = [\"eth0\"]\n[[check]]\nname = \"gw\"\nneighbour = \"ff02::1\"\ninterface = \"eth0\"\n", "not a unicast address"},
		{"unit-id = 1\niface = [\"eth0\"]\n[[check]]\nname = \"a\"\nfile = \"/x\"\nweight = 300\n", "out of range"},
		{"unit-id = 1\niface = [\"eth0\"]\n[[check]]\nname = \"a\"\nfile = \"/x\"\nwieght = 3\n", `unknown key "check.wieght"`},
		{"unit-id = 1\niface = [\"eth0\"]\n[[check]]\nname = \"a\"\nfile = \"/x\"\ninterval = \"soon\"\n", "soon"},
	} {
		_, err := parseConfig([]string{"-config", writeFile(t, c.file)}, &bytes.Buffer{})
		require.ErrorIs(t, err, errConfig, "%q", c.file)
		require.ErrorContains(t, err, c.err, "%q", c.file)
	}
	_, err := parseConfig([]string{"-config", "/nonexistent/hanode.toml"}, &bytes.Buffer{})
	require.ErrorIs(t, err, errConfig)
	_, err = parseConfig([]string{"-config", "a", "-check-config", "b"}, &bytes.Buffer{})
	require.ErrorContains(t, err, "exclusive")
}

// TestNeedsRestart: a reload may change the priority, the log level and
// the checks; any other key refuses it, naming what changed.
func TestNeedsRestart(t *testing.T) {
	parse := func(extra ...string) *config {
		c, err := parseConfig(append([]string{"-config", writeFile(t, sampleFile)}, extra...), &bytes.Buffer{})
		require.NoError(t, err)
		return c
	}
	old := parse()
	require.NoError(t, needsRestart(old, parse("-priority", "250", "-log-level", "warn")))
	err := needsRestart(old, parse("-iface", "eth0", "-priority", "250"))
	require.ErrorIs(t, err, errConfig)
	require.EqualError(t, err, "invalid configuration: changing iface [eth0 eth1 eth2] -> [eth0] needs a restart")
}

package vmac

import (
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestRecordFile(t *testing.T) {
	dir := t.TempDir()
	path := recordFile(dir, "eth0")
	_, ok, err := readRecord(path)
	require.NoError(t, err)
	require.False(t, ok, "no record")

	own := net.HardwareAddr{0x52, 0x54, 0, 0x12, 0x34, 0x56}
	require.NoError(t, writeRecord(path, own))
	got, ok, err := readRecord(path)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, own, got)
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, entries, 1, "no temporary file left")

	for _, bad := range []string{"", "garbage\n", "01:00:5e:00:00:01\n", "00:00:00:00:00:00\n", "02:00:00:00:01\n"} {
		require.NoError(t, os.WriteFile(path, []byte(bad), 0o644))
		_, ok, err := readRecord(path)
		require.NoError(t, err)
		require.False(t, ok, "%q is not a usable record", bad)
	}
	require.NoError(t, os.Mkdir(filepath.Join(dir, "eth1.mac"), 0o755))
	_, _, err = readRecord(recordFile(dir, "eth1"))
	require.Error(t, err, "a record that cannot be read is an error, not a missing one")
}

func TestRandomMAC(t *testing.T) {
	a, err := randomMAC()
	require.NoError(t, err)
	b, err := randomMAC()
	require.NoError(t, err)
	require.NoError(t, checkUnicastMAC(a))
	require.Equal(t, byte(2), a[0]&3, "locally administered unicast")
	require.NotEqual(t, a, b)
}

func TestRestoreIgnoresOtherTakeovers(t *testing.T) {
	// Macvlan and IP-move takeovers never change the interface's own MAC:
	// nothing to record or restore, and no interface is looked up.
	ts := []Takeover{{Interface: "nonexistent0", Macvlan: "hk0", MAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}}, {Interface: "nonexistent1"}}
	require.NoError(t, Record(t.TempDir(), ts...))
	r, err := Restore(t.TempDir(), ts...)
	require.NoError(t, err)
	require.Empty(t, r)
	_, err = Restore(t.TempDir(), Takeover{Interface: "nonexistent2", MAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}})
	require.ErrorIs(t, err, ErrNoInterface)
}

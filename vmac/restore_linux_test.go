package vmac_test

import (
	"net"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hakit/hakit/vmac"
)

// TestRestoreAfterCrash: a unit records its own MAC, puts up the virtual
// one and "crashes" (never releases); at its next start Restore puts the
// recorded MAC back, and a second Restore changes nothing. Without a record
// the interface gets a random locally administered MAC instead.
func TestRestoreAfterCrash(t *testing.T) {
	_, h, l := bed(t)
	vm, _ := vmac.NetDefendMAC(9, 0)
	ts := []vmac.Takeover{{Interface: "eth0", MAC: vm}}
	dir := t.TempDir()

	var restored []vmac.Restored
	do(t, h, func() error {
		r, err := vmac.Restore(dir, ts...)
		require.Empty(t, r, "the interface has its own MAC: nothing to do")
		return err
	})
	do(t, h, func() error { return vmac.Record(dir, ts...) })
	do(t, h, func() error { _, err := vmac.Apply(ts...); return err }) // and crash
	require.Equal(t, vm.String(), links(t, h)["eth0"].Address)
	do(t, h, func() error { return vmac.Record(dir, ts...) }) // a second takeover keeps the own MAC's record
	do(t, h, func() error {
		var err error
		restored, err = vmac.Restore(dir, ts...)
		return err
	})
	require.Equal(t, []vmac.Restored{{Interface: "eth0", MAC: l.MAC(), Recorded: true}}, restored)
	require.Equal(t, l.MAC().String(), links(t, h)["eth0"].Address)
	do(t, h, func() error {
		r, err := vmac.Restore(dir, ts...)
		require.Empty(t, r)
		return err
	})

	// No record: a random locally administered MAC, not the virtual one.
	do(t, h, func() error { _, err := vmac.Apply(ts...); return err })
	do(t, h, func() error {
		var err error
		restored, err = vmac.Restore(t.TempDir(), ts...)
		return err
	})
	require.Len(t, restored, 1)
	require.False(t, restored[0].Recorded)
	mac := restored[0].MAC
	require.Equal(t, byte(2), mac[0]&3, "locally administered unicast")
	require.Equal(t, mac.String(), links(t, h)["eth0"].Address)
	require.NotEqual(t, net.HardwareAddr(vm), mac)
}

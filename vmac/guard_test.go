package vmac

import (
	"errors"
	"net"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/hakit/hakit"
)

func mustMAC(t *testing.T, s string) net.HardwareAddr {
	t.Helper()
	m, err := net.ParseMAC(s)
	require.NoError(t, err)
	return m
}

func newTestGuard(t *testing.T) *Guard {
	t.Helper()
	vm, err := NetDefendMAC(5, 0)
	require.NoError(t, err)
	g, err := NewGuard(&GuardConfig{
		ClusterID: 5,
		Self:      1,
		Members: map[uint16][]net.HardwareAddr{
			1: {mustMAC(t, "02:00:00:00:01:01")},
			2: {mustMAC(t, "02:00:00:00:02:01")},
			3: nil, // any source
		},
		VirtualMACs: []net.HardwareAddr{vm},
	})
	require.NoError(t, err)
	return g
}

func TestGuardHeartbeat(t *testing.T) {
	tests := []struct {
		name    string
		cluster uint16
		unit    uint16
		src     string
		kind    CollisionKind // 0: no collision
	}{
		{"peer from its MAC", 5, 2, "02:00:00:00:02:01", 0},
		{"member with any source", 5, 3, "02:aa:bb:cc:dd:ee", 0},
		{"other cluster, unknown unit", 6, 9, "02:00:00:00:09:01", 0},
		{"other cluster, our unit IDs", 6, 2, "02:00:00:00:09:01", 0},
		{"our cluster, unknown unit", 5, 9, "02:00:00:00:09:01", ForeignUnit},
		{"our cluster, peer ID, wrong source", 5, 2, "02:00:00:00:09:01", ImpostorUnit},
		{"our cluster, our own ID, foreign source", 5, 1, "02:00:00:00:09:01", ImpostorUnit},
		{"malformed source", 5, 9, "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := newTestGuard(t)
			var src net.HardwareAddr
			if tt.src != "" {
				src = mustMAC(t, tt.src)
			}
			err := g.CheckHeartbeat("eth0", tt.cluster, tt.unit, src)
			if tt.kind == 0 {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, ErrCollision)
			var ce *CollisionError
			require.True(t, errors.As(err, &ce))
			require.Equal(t, tt.kind, ce.Kind)
			require.Equal(t, uint16(5), ce.ClusterID)
			require.Equal(t, tt.unit, ce.UnitID)
			require.Equal(t, tt.src, ce.From.String())
			require.Equal(t, "eth0", ce.Interface)
			require.Contains(t, err.Error(), "vmac: cluster 5")
		})
	}
}

func TestGuardOwnIDWithoutSources(t *testing.T) {
	g, err := NewGuard(&GuardConfig{ClusterID: 1, Self: 1, Members: map[uint16][]net.HardwareAddr{1: nil, 2: nil}})
	require.NoError(t, err)
	require.NoError(t, g.CheckHeartbeat("eth0", 1, 2, mustMAC(t, "02:00:00:00:00:02")))
	// Our own heartbeats are never fed, so unit 1 is someone else.
	err = g.CheckHeartbeat("eth0", 1, 1, mustMAC(t, "02:00:00:00:00:09"))
	var ce *CollisionError
	require.ErrorAs(t, err, &ce)
	require.Equal(t, ImpostorUnit, ce.Kind)
}

func TestGuardFrame(t *testing.T) {
	g := newTestGuard(t)
	vm, _ := NetDefendMAC(5, 0)
	other := mustMAC(t, "02:00:00:00:09:01")

	// Standby: the virtual MAC is our primary's; frames from it are normal.
	require.NoError(t, g.CheckFrame("eth0", vm))
	require.NoError(t, g.CheckFrame("eth0", other))

	// Holding: anyone else sending from our virtual MAC is a collision.
	g.SetHolding(true)
	require.NoError(t, g.CheckFrame("eth0", other))
	err := g.CheckFrame("eth1", vm)
	var ce *CollisionError
	require.ErrorAs(t, err, &ce)
	require.Equal(t, ForeignVirtualMAC, ce.Kind)
	require.Equal(t, vm.String(), ce.MAC.String())
	require.Equal(t, "eth1", ce.Interface)
	require.ErrorIs(t, err, ErrCollision)

	// The error holds its own copy of the MAC.
	vm2 := append(net.HardwareAddr(nil), vm...)
	err = g.CheckFrame("eth0", vm2)
	vm2[5] = 0xee
	require.ErrorAs(t, err, &ce)
	require.Equal(t, vm.String(), ce.MAC.String())

	require.NoError(t, g.CheckFrame("eth0", net.HardwareAddr{1, 2}))

	g.SetHolding(false)
	require.NoError(t, g.CheckFrame("eth0", vm))

	st := g.Stats()
	require.Equal(t, uint64(7), st.Frames)
	require.Equal(t, uint64(2), st.ForeignMAC)
	require.Equal(t, uint64(1), st.MalformedInput)
}

func TestGuardStats(t *testing.T) {
	g := newTestGuard(t)
	_ = g.CheckHeartbeat("a", 5, 2, mustMAC(t, "02:00:00:00:02:01"))
	_ = g.CheckHeartbeat("a", 6, 2, mustMAC(t, "02:00:00:00:02:01"))
	_ = g.CheckHeartbeat("a", 5, 7, mustMAC(t, "02:00:00:00:02:01"))
	_ = g.CheckHeartbeat("a", 5, 2, mustMAC(t, "02:00:00:00:07:01"))
	require.Equal(t, GuardStats{Heartbeats: 4, OtherClusters: 1, ForeignUnits: 1, ImpostorUnits: 1}, g.Stats())
}

func TestNewGuardBadConfig(t *testing.T) {
	good := mustMAC(t, "02:00:00:00:00:01")
	tests := []struct {
		name string
		cfg  GuardConfig
	}{
		{"self not member", GuardConfig{Self: 3, Members: map[uint16][]net.HardwareAddr{1: nil}}},
		{"no members", GuardConfig{}},
		{"self 0", GuardConfig{Members: map[uint16][]net.HardwareAddr{0: nil}}},
		{"unit 0", GuardConfig{Self: 1, Members: map[uint16][]net.HardwareAddr{0: nil, 1: nil}}},
		{"short member MAC", GuardConfig{Self: 1, Members: map[uint16][]net.HardwareAddr{1: {{1, 2, 3}}}}},
		{"multicast member MAC", GuardConfig{Self: 1, Members: map[uint16][]net.HardwareAddr{1: {mustMAC(t, "01:00:5e:00:00:01")}}}},
		{"multicast virtual MAC", GuardConfig{Self: 1, Members: map[uint16][]net.HardwareAddr{1: {good}}, VirtualMACs: []net.HardwareAddr{mustMAC(t, "33:33:00:00:00:01")}}},
		{"zero virtual MAC", GuardConfig{Self: 1, Members: map[uint16][]net.HardwareAddr{1: {good}}, VirtualMACs: []net.HardwareAddr{make(net.HardwareAddr, 6)}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.ErrorIs(t, tt.cfg.Validate(), hakit.ErrConfig)
			g, err := NewGuard(&tt.cfg)
			require.ErrorIs(t, err, hakit.ErrConfig)
			require.Nil(t, g)
		})
	}
}

func TestNewGuardNil(t *testing.T) {
	_, err := NewGuard(nil)
	require.ErrorIs(t, err, hakit.ErrConfig, "no Self")
	require.ErrorIs(t, DefaultGuardConfig().Validate(), hakit.ErrConfig)
}

func TestCollisionKindString(t *testing.T) {
	require.Equal(t, "foreign-unit", ForeignUnit.String())
	require.Equal(t, "CollisionKind(0)", CollisionKind(0).String())
}

func TestGuardSetMembers(t *testing.T) {
	g := newTestGuard(t)
	newcomer := mustMAC(t, "02:00:00:00:04:01")
	require.ErrorIs(t, g.CheckHeartbeat("eth0", 5, 4, newcomer), ErrCollision)

	// Unit 4 joins.
	require.NoError(t, g.SetMembers(map[uint16][]net.HardwareAddr{1: nil, 2: nil, 4: {newcomer}}))
	require.NoError(t, g.CheckHeartbeat("eth0", 5, 4, newcomer))
	require.ErrorIs(t, g.CheckHeartbeat("eth0", 5, 3, newcomer), ErrCollision, "unit 3 left")

	// Bad updates change nothing.
	require.ErrorIs(t, g.SetMembers(map[uint16][]net.HardwareAddr{2: nil}), hakit.ErrConfig, "without self")
	require.ErrorIs(t, g.SetMembers(map[uint16][]net.HardwareAddr{1: nil, 7: {{1}}}), hakit.ErrConfig)
	require.NoError(t, g.CheckHeartbeat("eth0", 5, 4, newcomer))
	require.ErrorIs(t, g.CheckHeartbeat("eth0", 5, 7, newcomer), ErrCollision)
}

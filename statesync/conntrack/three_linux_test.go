package conntrack

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/mdlayher/packet"
	"github.com/stretchr/testify/require"

	"github.com/hakit/hakit/internal/testbed"
	"github.com/hakit/hakit/statesync"
)

// unit is one firewall of a cluster on the bed, with its sync Driver to
// every other unit, its table, and either a Follower (the primary) or a
// warm Injector (a standby).
type unit struct {
	id     uint16
	fw     *firewall
	table  *statesync.Table
	sync   *statesync.Driver
	inj    *Injector
	warm   chan error // Follow's result
	cancel context.CancelFunc
	ran    chan error // the Follower's result
}

// newCluster builds n firewalls between the client and the server bridges,
// with a sync bridge; unit 1 is the primary, the others warm standbys.
func newCluster(t *testing.T, n int) (client, server *testbed.Host, units []*unit) {
	t.Helper()
	bed := testbed.New(t)
	cbr, sbr, ybr := bed.Bridge("c"), bed.Bridge("s"), bed.Bridge("y")
	client, server = bed.Host("client"), bed.Host("server")
	bed.Link(client, cbr, "eth0")
	bed.Link(server, sbr, "eth0")
	client.AddAddr("eth0", clientAddr)
	server.AddAddr("eth0", serverAddr)
	_, err := client.Run("ip", "route", "add", "default", "via", gwClient.Addr().String())
	require.NoError(t, err)
	_, err = server.Run("ip", "route", "add", "default", "via", gwServer.Addr().String())
	require.NoError(t, err)
	for i := range n {
		u := &unit{id: uint16(i + 1), table: statesync.NewTable(0)}
		u.fw = newFirewall(t, bed, fmt.Sprintf("fw%d", u.id), cbr, sbr, ybr, true)
		if i > 0 {
			u.fw.detach()
		}
		units = append(units, u)
	}
	for _, u := range units {
		var macs []net.HardwareAddr
		var peers []statesync.Peer
		for _, p := range units {
			if p != u {
				macs = append(macs, p.fw.sync.MAC())
				peers = append(peers, statesync.Peer{Unit: p.id, Addr: &packet.Addr{HardwareAddr: p.fw.sync.MAC()}})
			}
		}
		var tr *statesync.EthernetTransport
		require.NoError(t, u.fw.h.Do(func() error {
			var err error
			tr, err = statesync.ListenEthernet(u.fw.h.Interface("eth2"), 0, macs...)
			return err
		}))
		u.sync, err = statesync.NewDriver(&statesync.DriverConfig{Transport: tr, Table: u.table,
			Cluster: 7, Unit: u.id, Peers: peers, Send: u.id == 1, Receive: u.id != 1,
			Sender: &statesync.SenderConfig{MTU: 1500}})
		require.NoError(t, err)
		t.Cleanup(func() { u.sync.Close() })
		u.inj = dialInjector(t, u.fw.h)
		if u.id == 1 {
			u.follow(t)
		} else {
			u.warm = make(chan error, 1)
			go func() { u.warm <- u.inj.Follow(context.Background(), u.table) }()
		}
	}
	return client, server, units
}

// follow starts a Follower of the unit's kernel into its table and its
// sync Driver.
func (u *unit) follow(t *testing.T) {
	t.Helper()
	var f *Follower
	require.NoError(t, u.fw.h.Do(func() error {
		var err error
		f, err = DialFollower(u.table, &Config{Sink: u.sync})
		return err
	}))
	ctx, cancel := context.WithCancel(context.Background())
	u.cancel, u.ran = cancel, make(chan error, 1)
	go func() { u.ran <- f.Run(ctx) }()
	t.Cleanup(u.stop)
}

func (u *unit) stop() {
	if u.cancel != nil {
		u.cancel()
		<-u.ran
		u.cancel = nil
	}
}

// die is a power loss: the unit's cables go, its processes with them.
func (u *unit) die() {
	u.fw.detach()
	u.fw.sync.Down()
	u.stop()
	u.sync.Close()
}

// takeOver is the ordered takeover of a warm standby: the replica, then
// the tail into the kernel, then the addresses, then replication from its
// own kernel to the units left.
func (u *unit) takeOver(t *testing.T) {
	t.Helper()
	res := u.sync.Commit()
	n, err := u.inj.Commit(time.Now(), u.table)
	require.NoError(t, err)
	require.NoError(t, <-u.warm)
	t.Logf("unit %d takes over: %+v, the tail: %d sessions, %+v", u.id, res, n, u.inj.Stats())
	u.fw.attach()
	require.NoError(t, u.sync.SetSending(true))
	u.follow(t)
}

// TestThreeUnitsTwoFailovers needs root: three firewalls with source NAT;
// the primary replicates its conntrack table to both standbys, which keep
// it in their kernels as it changes. A TCP stream crosses unit 1; unit 1
// loses power and unit 2 takes over, replicating to unit 3; then unit 2
// loses power and unit 3 takes over. The stream carries data both ways
// after each takeover.
func TestThreeUnitsTwoFailovers(t *testing.T) {
	client, server, units := newCluster(t, 3)
	var ln net.Listener
	require.NoError(t, server.Do(func() error {
		var err error
		ln, err = net.Listen("tcp4", netip.AddrPortFrom(serverAddr.Addr(), 8080).String())
		return err
	}))
	t.Cleanup(func() { ln.Close() })
	var c net.Conn
	require.NoError(t, client.Do(func() error {
		var err error
		c, err = net.DialTimeout("tcp4", ln.Addr().String(), 5*time.Second)
		return err
	}))
	s, err := ln.Accept()
	require.NoError(t, err)
	t.Cleanup(func() { c.Close(); s.Close() })
	go io.Copy(s, s)
	key := keyOf(c)
	require.NoError(t, exchange(t, c, c, "through unit 1", 5*time.Second))

	// waitWarm: every standby left holds the stream in its kernel.
	waitWarm := func(standbys ...*unit) {
		t.Helper()
		require.Eventually(t, func() bool {
			for _, u := range standbys {
				s, ok := u.table.Get(key)
				if !ok || s.State != statesync.TCPStateEstablished || !u.sync.InSync() {
					return false
				}
				if _, ok := dumpSessions(t, u.fw.h)[key]; !ok {
					return false
				}
			}
			return true
		}, 10*time.Second, 10*time.Millisecond, "the standbys hold the stream")
	}
	waitWarm(units[1], units[2])
	for i, p := range units[0].sync.Peers() {
		require.True(t, p.Acked || p.Sender.Acks > 0, "peer %d acknowledged on its own", i)
	}

	units[0].die()
	units[1].takeOver(t)
	for i := range 10 {
		require.NoError(t, exchange(t, c, c, fmt.Sprintf("through unit 2, %d", i), 5*time.Second))
	}
	waitWarm(units[2])

	units[1].die()
	units[2].takeOver(t)
	for i := range 10 {
		require.NoError(t, exchange(t, c, c, fmt.Sprintf("through unit 3, %d", i), 5*time.Second))
	}
	e, ok := dumpSessions(t, units[2].fw.h)[key]
	require.True(t, ok)
	require.True(t, e.NAT(), "unit 3 translates the stream as unit 1 did: %+v", e)
}

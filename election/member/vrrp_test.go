package member_test

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hakit/hakit"
	"github.com/hakit/hakit/election/member"
	"github.com/hakit/hakit/election/vrrp"
)

// vrrpLink is a vrrp.Conn whose sends are recorded in the unit's log and
// whose receives come from the test.
type vrrpLink struct {
	rec  *recorder
	in   chan vrrp.Packet
	once sync.Once
	done chan struct{}
}

func newVRRPLink(rec *recorder) *vrrpLink {
	return &vrrpLink{rec: rec, in: make(chan vrrp.Packet, 8), done: make(chan struct{})}
}

func (l *vrrpLink) ReadFrom(b []byte) (vrrp.Packet, error) {
	select {
	case p := <-l.in:
		p.Data = append(b[:0], p.Data...)
		return p, nil
	case <-l.done:
		return vrrp.Packet{}, &net.OpError{Op: "read", Net: "ip4:112", Err: net.ErrClosed}
	}
}

func (l *vrrpLink) WriteTo(b []byte, src, dst netip.Addr) error {
	var a vrrp.Advertisement
	if err := a.UnmarshalBinary(b); err != nil {
		return err
	}
	if a.Priority == vrrp.PriorityStop {
		_ = l.rec.op("advert priority 0")
	}
	return nil
}

func (l *vrrpLink) Close() error { l.once.Do(func() { close(l.done) }); return nil }

var (
	vrrpVIP  = netip.MustParseAddr("198.18.0.100")
	vrrpSelf = netip.MustParseAddr("198.18.0.2")
	vrrpPeer = netip.MustParseAddr("198.18.0.3")
)

// advertFrom returns an advertisement of the virtual router from the
// peer, with priority p, as received.
func advertFrom(t *testing.T, p uint8) vrrp.Packet {
	a := vrrp.Advertisement{Version: 3, Type: vrrp.TypeAdvertisement, VRID: 51, Priority: p, MaxAdvertInterval: 100,
		Addrs: []netip.Addr{vrrpVIP}}
	require.NoError(t, a.Seal(vrrp.ChecksumPseudoHeader, vrrpPeer, vrrp.GroupIPv4))
	b, err := a.MarshalBinary()
	require.NoError(t, err)
	return vrrp.Packet{Src: vrrpPeer, Dst: vrrp.GroupIPv4, TTL: 255, Data: b}
}

// vrrpUnit is a unit whose role comes from a VRRP virtual router.
func vrrpUnit(t *testing.T, priority uint8, sync *member.Sync) (*member.Driver, *vrrpLink, *recorder) {
	rec := &recorder{fail: map[string][]error{}}
	link := newVRRPLink(rec)
	src, err := member.NewVRRP(link, &vrrp.Config{VRID: 51, Priority: priority, Addrs: []netip.Addr{vrrpVIP},
		Primary: vrrpSelf, AdvertInterval: time.Second}, nil)
	require.NoError(t, err)
	d, err := member.New(&member.Config{UnitID: 1, Roles: src, Sync: sync,
		Steps: []member.Step{rec.step("conntrack"), rec.step("addresses"), rec.step("announce")},
		OnEvent: func(e member.Event) {
			rec.mu.Lock()
			rec.events = append(rec.events, e)
			rec.mu.Unlock()
		}})
	require.NoError(t, err)
	t.Cleanup(func() { d.Close() })
	return d, link, rec
}

// TestVRRPRoleSource: the VRRP virtual router's states run the unit's
// takeover and its reverse, in the composition's order: Master after
// Master_Down_Interval alone, Backup when a higher priority preempts,
// Master again when that peer stops (priority 0, after Skew_Time), and a
// clean stop sends priority 0 before any step goes down.
func TestVRRPRoleSource(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d, link, rec := vrrpUnit(t, 100, nil)
		require.NoError(t, d.Start())
		t0 := time.Now()

		time.Sleep(vrrp.MasterDownInterval(100, time.Second) - time.Millisecond)
		synctest.Wait()
		require.Equal(t, hakit.Secondary, d.Role(), "Backup until Master_Down_Interval")
		time.Sleep(time.Millisecond)
		synctest.Wait()
		require.Equal(t, hakit.Primary, d.Role())
		require.Equal(t, userUp, rec.takeOps())
		tk := rec.eventsOf(member.EventTakeover)
		require.Len(t, tk, 1)
		require.Equal(t, t0.Add(vrrp.MasterDownInterval(100, time.Second)), tk[0].Takeover.Elected)
		require.Contains(t, rec.eventsOf(member.EventRoleChange)[1].Reason, "VRRP MASTER")

		// A higher priority preempts: the steps go down in reverse.
		link.in <- advertFrom(t, 200)
		synctest.Wait()
		require.Equal(t, hakit.Secondary, d.Role())
		require.Equal(t, userDown, rec.takeOps())

		// It stops cleanly: this unit takes over after its Skew_Time.
		link.in <- advertFrom(t, vrrp.PriorityStop)
		synctest.Wait()
		t1 := time.Now()
		time.Sleep(vrrp.SkewTime(100, time.Second))
		synctest.Wait()
		require.Equal(t, hakit.Primary, d.Role())
		require.Equal(t, userUp, rec.takeOps())
		require.Equal(t, t1.Add(vrrp.SkewTime(100, time.Second)), rec.eventsOf(member.EventTakeover)[1].Takeover.Elected)

		require.ErrorIs(t, d.Handover(context.Background()), member.ErrRoleSource)

		// A clean stop: priority 0 first, then the steps down.
		require.NoError(t, d.Close())
		require.Equal(t, append([]string{"advert priority 0"}, userDown...), rec.takeOps())
		require.Empty(t, rec.eventsOf(member.EventStepFailed))
	})
}

// TestVRRPRoleSourceRollback: a step that fails while Master is rolled
// back and tried again, as with the election: the source's role stands.
func TestVRRPRoleSourceRollback(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d, _, rec := vrrpUnit(t, 255, nil) // the owner: Master at once
		rec.fail["announce up"] = []error{errors.New("no route")}
		require.NoError(t, d.Start())
		synctest.Wait()
		require.Equal(t, hakit.Primary, d.Role())
		require.Equal(t, []string{"conntrack up", "addresses up", "announce up", "addresses down", "conntrack down"}, rec.takeOps())
		time.Sleep(time.Second)
		synctest.Wait()
		require.Equal(t, userUp, rec.takeOps())
		require.Len(t, rec.eventsOf(member.EventRolledBack), 1)
		require.NoError(t, d.Close())
	})
}

// TestVRRPRoleSourceConfig: a role source excludes heartbeat interfaces;
// a failed New closes the source's conn.
func TestVRRPRoleSourceConfig(t *testing.T) {
	rec := &recorder{}
	link := newVRRPLink(rec)
	src, err := member.NewVRRP(link, &vrrp.Config{VRID: 51, Addrs: []netip.Addr{vrrpVIP}, Primary: vrrpSelf}, nil)
	require.NoError(t, err)
	_, err = member.New(&member.Config{UnitID: 1, Roles: src, Interfaces: []member.Interface{{Name: "eth0", Conn: nil}}})
	require.ErrorIs(t, err, hakit.ErrConfig)
	select {
	case <-link.done:
	default:
		t.Fatal("the source's conn is still open")
	}

	_, err = member.NewVRRP(newVRRPLink(rec), &vrrp.Config{VRID: 0}, nil)
	require.ErrorIs(t, err, hakit.ErrConfig)
	require.Equal(t, hakit.Primary, member.VRRPRole(vrrp.Master))
	require.Equal(t, hakit.Secondary, member.VRRPRole(vrrp.Backup))
	require.Equal(t, hakit.Initial, member.VRRPRole(vrrp.Initialize))
}

package testbed_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mdlayher/packet"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/hakit/hakit/internal/testbed"
)

// testEtherType is IEEE 802 "Local Experimental EtherType 1", free for
// tests.
const testEtherType = 0x88B5

// pair is two hosts, a and b, cabled to one bridge.
type pair struct {
	bed    *testbed.Bed
	br     *testbed.Bridge
	a, b   *testbed.Host
	la, lb *testbed.Link
}

func newPair(t *testing.T) *pair {
	t.Helper()
	bed := testbed.New(t)
	p := &pair{bed: bed, br: bed.Bridge("lan"), a: bed.Host("a"), b: bed.Host("b")}
	p.la = bed.Link(p.a, p.br, "eth0")
	p.lb = bed.Link(p.b, p.br, "eth0")
	return p
}

// listen opens a raw AF_PACKET socket for testEtherType on ifname inside h,
// closed at the end of the test.
func listen(t *testing.T, h *testbed.Host, ifname string) *packet.Conn {
	t.Helper()
	var c *packet.Conn
	err := h.Do(func() error {
		ifi, err := net.InterfaceByName(ifname)
		if err != nil {
			return err
		}
		c, err = packet.Listen(ifi, packet.Raw, testEtherType, nil)
		return err
	})
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

// frame builds an Ethernet frame of testEtherType carrying seq and tag,
// padded to the 60-byte minimum.
func frame(dst, src net.HardwareAddr, tag byte, seq uint32) []byte {
	f := make([]byte, 60)
	copy(f[0:6], dst)
	copy(f[6:12], src)
	binary.BigEndian.PutUint16(f[12:14], testEtherType)
	f[14] = tag
	binary.BigEndian.PutUint32(f[15:19], seq)
	copy(f[19:], "hakit testbed")
	return f
}

func send(t *testing.T, c *packet.Conn, f []byte) {
	t.Helper()
	_, err := c.WriteTo(f, &packet.Addr{HardwareAddr: net.HardwareAddr(f[0:6])})
	require.NoError(t, err)
}

// collector reads frames of one socket on its own goroutine and hands them
// over on a channel.
type collector struct {
	frames chan []byte
}

func collect(t *testing.T, c *packet.Conn) *collector {
	t.Helper()
	col := &collector{frames: make(chan []byte, 8192)}
	go func() {
		buf := make([]byte, 2048)
		for {
			n, _, err := c.ReadFrom(buf)
			if err != nil {
				close(col.frames)
				return
			}
			col.frames <- slices.Clone(buf[:n])
		}
	}()
	return col
}

// until receives frames until one tagged tag arrives, returning those that
// came before it. The timeout only bounds a broken run; nothing is
// asserted about timing.
func (col *collector) until(t *testing.T, tag byte) [][]byte {
	t.Helper()
	var got [][]byte
	deadline := time.After(10 * time.Second)
	for {
		select {
		case f, ok := <-col.frames:
			require.True(t, ok, "socket closed before the marker arrived")
			if f[14] == tag {
				return got
			}
			got = append(got, f)
		case <-deadline:
			t.Fatalf("marker frame %#x never arrived (%d frames before)", tag, len(got))
		}
	}
}

const (
	tagData   = 0x01
	tagMarker = 0xEE
)

func TestRawFrameAcrossBridge(t *testing.T) {
	t.Parallel()
	p := newPair(t)
	ca, cb := listen(t, p.a, "eth0"), listen(t, p.b, "eth0")
	col := collect(t, cb)

	want := frame(p.lb.MAC(), p.la.MAC(), tagMarker, 42)
	send(t, ca, want)
	require.Empty(t, col.until(t, tagMarker))

	// Read one more frame directly to check the source address too.
	cb2 := listen(t, p.b, "eth0")
	send(t, ca, want)
	require.NoError(t, cb2.SetReadDeadline(time.Now().Add(10*time.Second)))
	buf := make([]byte, 2048)
	n, addr, err := cb2.ReadFrom(buf)
	require.NoError(t, err)
	require.Equal(t, want, buf[:n])
	require.Equal(t, p.la.MAC(), addr.(*packet.Addr).HardwareAddr)
}

// The measured drop share of Loss(0.2) over 5000 frames is within 3
// percentage points of 20% (the binomial standard deviation is 0.57 points,
// so this is over 5 sigma and does not flake).
func TestLossShare(t *testing.T) {
	t.Parallel()
	const (
		frames    = 5000
		share     = 0.2
		tolerance = 0.03
	)
	p := newPair(t)
	ca, cb := listen(t, p.a, "eth0"), listen(t, p.b, "eth0")
	setReadBuffer(t, cb, 8<<20)
	col := collect(t, cb)

	remove := p.br.Loss(share)
	dst, src := p.lb.MAC(), p.la.MAC()
	for i := range frames {
		send(t, ca, frame(dst, src, tagData, uint32(i)))
	}
	remove()
	// Frames keep their order through veth and bridge, so once a marker
	// sent after the loss rule is gone has arrived, every data frame that
	// survived has arrived too.
	send(t, ca, frame(dst, src, tagMarker, 0))
	got := col.until(t, tagMarker)

	seen := make(map[uint32]bool)
	for _, f := range got {
		seen[binary.BigEndian.Uint32(f[15:19])] = true
	}
	stats, err := cb.Stats()
	require.NoError(t, err)
	require.Zero(t, stats.Drops, "the receiving socket dropped frames: the measurement would be wrong")

	measured := 1 - float64(len(seen))/frames
	t.Logf("Loss(%.2f): %d of %d frames dropped, measured share %.4f", share, frames-len(seen), frames, measured)
	require.InDelta(t, share, measured, tolerance)

	// After remove, nothing is dropped.
	for i := range 100 {
		send(t, ca, frame(dst, src, tagData, uint32(i)))
	}
	send(t, ca, frame(dst, src, tagMarker, 0))
	require.Len(t, col.until(t, tagMarker), 100)
}

func TestLossMatch(t *testing.T) {
	t.Parallel()
	p := newPair(t)
	ca, cb := listen(t, p.a, "eth0"), listen(t, p.b, "eth0")
	col := collect(t, cb)
	dst, src := p.lb.MAC(), p.la.MAC()

	// Dropping every frame of another EtherType leaves ours alone.
	remove := p.br.LossMatch(testbed.Match{EtherType: 0x88B6}, 1)
	for i := range 50 {
		send(t, ca, frame(dst, src, tagData, uint32(i)))
	}
	send(t, ca, frame(dst, src, tagMarker, 0))
	require.Len(t, col.until(t, tagMarker), 50)
	remove()
	remove() // twice is fine

	// Dropping every frame entering from b's port leaves a's alone.
	defer p.br.LossOn(p.lb, 1)()
	for i := range 50 {
		send(t, ca, frame(dst, src, tagData, uint32(i)))
	}
	send(t, ca, frame(dst, src, tagMarker, 0))
	require.Len(t, col.until(t, tagMarker), 50)

	// Dropping all of our EtherType from a's port drops the data; the
	// marker goes through after removal.
	removeA := p.br.LossMatch(testbed.Match{In: p.la, EtherType: testEtherType}, 1)
	for i := range 50 {
		send(t, ca, frame(dst, src, tagData, uint32(i)))
	}
	removeA()
	send(t, ca, frame(dst, src, tagMarker, 0))
	require.Empty(t, col.until(t, tagMarker))
}

func TestLinkDownUp(t *testing.T) {
	t.Parallel()
	p := newPair(t)
	ca, cb := listen(t, p.a, "eth0"), listen(t, p.b, "eth0")
	col := collect(t, cb)
	dst, src := p.lb.MAC(), p.la.MAC()

	send(t, ca, frame(dst, src, tagMarker, 0))
	col.until(t, tagMarker)

	p.lb.Down() // cable pulled at the switch
	require.Contains(t, run(t, p.b, "ip", "link", "show", "eth0"), "NO-CARRIER")
	for i := range 20 {
		send(t, ca, frame(dst, src, tagData, uint32(i)))
	}
	p.lb.Up()
	send(t, ca, frame(dst, src, tagMarker, 0))
	require.Empty(t, col.until(t, tagMarker), "frames sent while the port was down arrived")

	p.la.HostDown()
	require.Contains(t, run(t, p.a, "ip", "link", "show", "eth0"), "state DOWN")
	p.la.HostUp()
	// The kernel reports the interface going down once, as ENETDOWN on
	// the packet socket's next call, even after it is up again.
	marker := frame(dst, src, tagMarker, 0)
	if _, err := ca.WriteTo(marker, &packet.Addr{HardwareAddr: dst}); err != nil {
		require.ErrorIs(t, err, unix.ENETDOWN)
		send(t, ca, marker)
	}
	col.until(t, tagMarker)
}

func TestDownAll(t *testing.T) {
	t.Parallel()
	bed := testbed.New(t)
	h := bed.Host("h")
	var links []*testbed.Link
	for i, name := range []string{"x", "y", "z"} {
		links = append(links, bed.Link(h, bed.Bridge(name), fmt.Sprintf("eth%d", i)))
	}
	called := false
	bed.DownAll(func() { called = true }, links...)
	require.True(t, called)
	for _, l := range links {
		require.Contains(t, run(t, h, "ip", "link", "show", l.Name()), "NO-CARRIER")
	}
	for _, l := range links {
		l.Up()
		require.NotContains(t, run(t, h, "ip", "link", "show", l.Name()), "NO-CARRIER")
	}
}

func run(t *testing.T, h *testbed.Host, name string, args ...string) string {
	t.Helper()
	out, err := h.Run(name, args...)
	require.NoError(t, err)
	return out
}

func TestNeighboursAndFDB(t *testing.T) {
	t.Parallel()
	p := newPair(t)
	for _, a := range []struct {
		h *testbed.Host
		p string
	}{
		{p.a, "198.18.0.1/24"}, {p.a, "2001:db8::1/64"},
		{p.b, "198.18.0.2/24"}, {p.b, "2001:db8::2/64"},
	} {
		a.h.AddAddr("eth0", netip.MustParsePrefix(a.p))
	}
	run(t, p.a, "ping", "-c", "1", "-W", "5", "198.18.0.2")
	run(t, p.a, "ping", "-6", "-c", "1", "-W", "5", "2001:db8::2")

	neigh := func(ip string) *testbed.Neighbour {
		for _, n := range p.a.Neighbours("eth0") {
			if n.IP == netip.MustParseAddr(ip) {
				return &n
			}
		}
		return nil
	}
	for _, ip := range []string{"198.18.0.2", "2001:db8::2"} {
		n := neigh(ip)
		require.NotNil(t, n, "no neighbour entry for %s", ip)
		require.Equal(t, p.lb.MAC(), n.MAC)
		require.NotEmpty(t, n.State)
	}

	fdb := p.br.FDB()
	learnt := func(mac net.HardwareAddr) *testbed.FDBEntry {
		for _, e := range fdb {
			if !e.Local && e.MAC.String() == mac.String() {
				return &e
			}
		}
		return nil
	}
	for _, l := range []*testbed.Link{p.la, p.lb} {
		e := learnt(l.MAC())
		require.NotNil(t, e, "%s's MAC %s not learnt: %v", l.Host().Name(), l.MAC(), fdb)
		require.Equal(t, l.Host().Name(), e.Port)
		require.Same(t, l, e.Link)
	}
}

func TestSetMACAndInterface(t *testing.T) {
	t.Parallel()
	p := newPair(t)
	mac := net.HardwareAddr{0x02, 0, 0x5e, 0x10, 0, 1}
	p.la.SetMAC(mac)
	require.Equal(t, mac, p.la.MAC())
	require.Equal(t, mac, p.a.Interface("eth0").HardwareAddr)
	require.Equal(t, "a-eth0", p.la.Peer())
	require.Equal(t, "eth0", p.la.Name())
	require.Same(t, p.br, p.la.Bridge())
}

func TestDoStaysInNamespace(t *testing.T) {
	t.Parallel()
	bed := testbed.New(t)
	h := bed.Host("a")
	var inside, outside uint64
	require.NoError(t, h.Do(func() error {
		var st unix.Stat_t
		if err := unix.Stat("/proc/thread-self/ns/net", &st); err != nil {
			return err
		}
		inside = st.Ino
		return nil
	}))
	var st unix.Stat_t
	require.NoError(t, unix.Stat("/var/run/netns/"+h.Namespace(), &st))
	require.Equal(t, st.Ino, inside, "Do did not run in the host's namespace")

	require.NoError(t, unix.Stat("/proc/self/ns/net", &st))
	outside = st.Ino
	require.NotEqual(t, outside, inside)

	errBoom := errors.New("boom")
	require.ErrorIs(t, h.Do(func() error { return errBoom }), errBoom)
	require.PanicsWithValue(t, "boom", func() { _ = h.Do(func() error { panic("boom") }) })

	// Only lo exists in a fresh host.
	ifs, err := doInterfaces(h)
	require.NoError(t, err)
	require.Equal(t, []string{"lo"}, ifs)
}

func doInterfaces(h *testbed.Host) ([]string, error) {
	var names []string
	err := h.Do(func() error {
		ifs, err := net.Interfaces()
		for _, i := range ifs {
			names = append(names, i.Name)
		}
		return err
	})
	return names, err
}

func TestStartKilledAtClose(t *testing.T) {
	t.Parallel()
	bed, err := testbed.Open("start")
	require.NoError(t, err)
	defer bed.Close()
	h := bed.Host("a")
	cmd := h.Start("sleep", "60")
	require.NoError(t, bed.Close())
	require.NotNil(t, cmd.ProcessState, "the command was not reaped")
	require.False(t, cmd.ProcessState.Success())
}

func TestSysctl(t *testing.T) {
	t.Parallel()
	bed := testbed.New(t)
	h := bed.Host("a")
	h.Sysctl("net.ipv4.ip_forward", "1")
	require.Equal(t, "net.ipv4.ip_forward = 1\n", run(t, h, "sysctl", "net.ipv4.ip_forward"))
	// Another host keeps its own value.
	require.Equal(t, "net.ipv4.ip_forward = 0\n", run(t, bed.Host("b"), "sysctl", "net.ipv4.ip_forward"))
}

// namespaces lists the names ip netns list shows.
func namespaces(t *testing.T) []string {
	t.Helper()
	out, err := exec.Command("ip", "netns", "list").CombinedOutput()
	require.NoError(t, err, string(out))
	var names []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if f := strings.Fields(line); len(f) > 0 {
			names = append(names, f[0])
		}
	}
	return names
}

func TestCloseLeavesNothing(t *testing.T) {
	t.Parallel()
	bed, err := testbed.Open("close")
	require.NoError(t, err)
	defer bed.Close()
	br := bed.Bridge("lan")
	a, b := bed.Host("a"), bed.Host("b")
	bed.Link(a, br, "eth0")
	bed.Link(b, br, "eth0")
	br.Loss(0.5)
	mine := bed.Namespaces()
	require.Len(t, mine, 3)
	require.Subset(t, namespaces(t), mine)

	require.NoError(t, bed.Close())
	require.NoError(t, bed.Close(), "a second Close is a no-op")
	left := namespaces(t)
	for _, ns := range mine {
		require.NotContains(t, left, ns)
	}
	_, err = a.Run("true")
	require.ErrorIs(t, err, testbed.ErrClosed)
	require.ErrorIs(t, a.Do(func() error { return nil }), testbed.ErrClosed)
}

// fakeTB is a testing.TB whose Fatal and Cleanup are recorded, to check
// the cleanup path of a failing test without failing this one.
type fakeTB struct {
	testing.TB
	cleanups []func()
	fatal    string
}

func (f *fakeTB) Helper()           {}
func (f *fakeTB) Name() string      { return "fake" }
func (f *fakeTB) Cleanup(fn func()) { f.cleanups = append(f.cleanups, fn) }

// Fatal records the message and unwinds like t.Fatal would, by a panic
// the test recovers.
func (f *fakeTB) Fatal(args ...any) {
	f.fatal = fmt.Sprint(args...)
	panic(f)
}

func (f *fakeTB) runCleanups() {
	for i := len(f.cleanups) - 1; i >= 0; i-- {
		f.cleanups[i]()
	}
}

func TestCleanupAfterFailedStep(t *testing.T) {
	t.Parallel()
	f := &fakeTB{TB: t}
	var mine []string
	func() {
		defer func() {
			require.Equal(t, f, recover(), "the failing step did not call Fatal")
		}()
		bed := testbed.New(f)
		br := bed.Bridge("lan")
		h := bed.Host("a")
		bed.Link(h, br, "eth0")
		mine = bed.Namespaces()
		h.AddAddr("eth0", netip.MustParsePrefix("192.0.2.1/24")) // not a test range: fails
		t.Error("AddAddr outside the test ranges did not fail")
	}()
	require.Contains(t, f.fatal, "198.18.0.0/15")
	require.Len(t, mine, 2)
	require.Subset(t, namespaces(t), mine)
	f.runCleanups()
	left := namespaces(t)
	for _, ns := range mine {
		require.NotContains(t, left, ns)
	}
}

func setReadBuffer(t *testing.T, c *packet.Conn, n int) {
	t.Helper()
	rc, err := c.SyscallConn()
	require.NoError(t, err)
	var serr error
	require.NoError(t, rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, n)
	}))
	require.NoError(t, serr)
}

package statesync_test

import (
	"bytes"
	"net"
	"net/netip"
	"testing"

	"github.com/hakit/hakit/internal/testbed"
	"github.com/hakit/hakit/statesync"
)

// FuzzUDPFraming needs root: every datagram that reaches a UDP sync
// transport, of any content and length, is read whole from a peer or
// counted once as from another source.
func FuzzUDPFraming(f *testing.F) {
	bed := testbed.New(f) // skips unless root (fails under CI=true)
	h := bed.Host("a")
	bed.Link(h, bed.Bridge("sync"), "eth0")
	h.AddAddr("eth0", netip.MustParsePrefix("198.18.0.2/24"))
	local, from := netip.MustParseAddrPort("198.18.0.2:7000"), netip.MustParseAddrPort("198.18.0.2:7001")
	var tr *statesync.UDPTransport
	var peer, stray *net.UDPConn
	if err := h.Do(func() (err error) {
		if tr, err = statesync.ListenUDP(local, from); err != nil {
			return err
		}
		if peer, err = net.ListenUDP("udp", net.UDPAddrFromAddrPort(from)); err != nil {
			return err
		}
		stray, err = net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(198, 18, 0, 2)})
		return err
	}); err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { tr.Close(); peer.Close(); stray.Close() })
	f.Add([]byte("hs\x03\x01"), false)
	f.Add([]byte("hs\x03\x01"), true)
	f.Add([]byte{}, false)
	marker := []byte("end")
	buf := make([]byte, 65536) // the Driver's
	f.Fuzz(func(t *testing.T, b []byte, foreign bool) {
		if len(b) > 65507 { // not a UDP datagram
			return
		}
		c := peer
		if foreign {
			c = stray
		}
		other := tr.Drops().OtherSource
		if _, err := c.WriteToUDPAddrPort(b, local); err != nil {
			t.Fatal(err)
		}
		if _, err := peer.WriteToUDPAddrPort(marker, local); err != nil {
			t.Fatal(err)
		}
		n, addr, err := tr.ReadFrom(buf)
		if err != nil {
			t.Fatal(err)
		}
		if addr.(*net.UDPAddr).AddrPort() != from {
			t.Fatalf("read from %v", addr)
		}
		counted := tr.Drops().OtherSource - other
		if !foreign {
			if counted != 0 || !bytes.Equal(buf[:n], b) {
				t.Fatalf("%d bytes from the peer: read %d, counted %d", len(b), n, counted)
			}
			n, _, err = tr.ReadFrom(buf)
			if err != nil {
				t.Fatal(err)
			}
		} else if counted != 1 {
			t.Fatalf("%d bytes from elsewhere counted %d times", len(b), counted)
		}
		if !bytes.Equal(buf[:n], marker) {
			t.Fatalf("read %q, not the marker", buf[:n])
		}
	})
}

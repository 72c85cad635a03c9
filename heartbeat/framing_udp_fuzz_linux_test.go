package heartbeat

import (
	"bytes"
	"net"
	"net/netip"
	"testing"

	"github.com/hakit/hakit/internal/testbed"
)

// FuzzUDPFraming needs root: every datagram that reaches a UDP heartbeat
// socket, of any content and length, from a peer's address or another,
// is read whole or dropped and counted once (another source, longer than
// the reader's buffer).
func FuzzUDPFraming(f *testing.F) {
	bed := testbed.New(f) // skips unless root (fails under CI=true)
	h := bed.Host("a")
	bed.Link(h, bed.Bridge("lan"), "eth0")
	h.AddAddr("eth0", netip.MustParsePrefix("198.18.0.2/24"))
	h.AddAddr("eth0", netip.MustParsePrefix("198.18.0.3/24"))
	local := netip.MustParseAddrPort("198.18.0.2:7000")
	var c *UDPConn
	var peer, stray *net.UDPConn
	if err := h.Do(func() error {
		conn, err := ListenUDP(local, netip.MustParseAddrPort("198.18.0.2:7001"))
		if err != nil {
			return err
		}
		c = conn.(*UDPConn)
		if peer, err = net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(198, 18, 0, 2)}); err != nil {
			return err
		}
		stray, err = net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(198, 18, 0, 3)})
		return err
	}); err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { c.Close(); peer.Close(); stray.Close() })
	fr := Frame{ClusterID: 7, UnitID: 1, Epoch: 1, Seq: 1}
	good, _ := fr.MarshalBinary()
	f.Add(good, false, uint16(1500))
	f.Add(good, true, uint16(1500))
	f.Add(good, false, uint16(10))
	f.Add([]byte{}, false, uint16(0))
	marker := []byte("end")
	f.Fuzz(func(t *testing.T, b []byte, foreign bool, size uint16) {
		if len(b) > 65507 { // not a UDP datagram
			return
		}
		buf := make([]byte, len(marker)+int(size))
		from := peer
		if foreign {
			from = stray
		}
		st := c.Stats()
		if _, err := from.WriteToUDPAddrPort(b, local); err != nil {
			t.Fatal(err)
		}
		if _, err := peer.WriteToUDPAddrPort(marker, local); err != nil {
			t.Fatal(err)
		}
		n, err := c.ReadFrame(buf)
		if err != nil {
			t.Fatal(err)
		}
		got := c.Stats()
		dropped := got.Foreign - st.Foreign + got.Truncated - st.Truncated
		whole := !foreign && len(b) <= len(buf)
		switch {
		case whole && (dropped != 0 || !bytes.Equal(buf[:n], b)):
			t.Fatalf("%d bytes, buffer %d: read %d, %+v", len(b), len(buf), n, got)
		case whole:
			if n, err = c.ReadFrame(buf); err != nil || !bytes.Equal(buf[:n], marker) {
				t.Fatalf("after %d bytes, %q, %v", len(b), buf[:n], err)
			}
		case dropped != 1 || !bytes.Equal(buf[:n], marker):
			t.Fatalf("%d bytes (foreign %v), buffer %d: read %q, counted %d times", len(b), foreign, len(buf), buf[:n], dropped)
		}
	})
}

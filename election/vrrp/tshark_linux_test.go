package vrrp

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hakit/hakit/internal/testbed"
)

// TestTshark captures this package's advertisements on the wire with
// tshark (Wireshark's decoder, from Debian) and checks that they decode as
// VRRP version 3 advertisements with a good checksum and no expert
// warning: IPv4 in both checksum forms and IPv6. Wireshark checks the IPv4
// form its vrrp.v3_checksum_as_in_v2 preference names (false: the
// pseudo-header; true: the message only), so each capture is decoded with
// both settings, and the other one must call the checksum bad: the check
// ran.
func TestTshark(t *testing.T) {
	if _, err := exec.LookPath("tshark"); err != nil && os.Getenv("CI") != "true" {
		t.Skip("tshark is not installed (apt-get install tshark)")
	}
	tb := testbed.New(t)
	lan := tb.Bridge("lan")
	a, c := tb.Host("a"), tb.Host("c")
	tb.Link(a, lan, "eth0")
	tb.Link(c, lan, "eth0")
	a.AddAddr("eth0", netip.MustParsePrefix("198.18.0.2/24"))
	c.AddAddr("eth0", netip.MustParsePrefix("198.18.0.3/24"))
	dir := t.TempDir()

	for _, tt := range []struct {
		name  string
		v6    bool
		form  ChecksumForm
		addrs []netip.Addr
		// asV2 is the preference under which the checksum is good; nil:
		// both (IPv6 always has the pseudo-header).
		asV2 *bool
	}{
		{"ipv4 pseudo-header", false, ChecksumPseudoHeader, []netip.Addr{vip4, vip4b}, new(false)},
		{"ipv4 message-only", false, ChecksumMessageOnly, []netip.Addr{vip4, vip4b}, new(true)},
		{"ipv6", true, ChecksumPseudoHeader, []netip.Addr{vipLL, vip6}, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			file := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "-")+".pcap")
			tsharkCapture(t, c, file, tt.v6, func() (stop func()) {
				// The address owner: Master at once, an advertisement every 100ms.
				ifi := a.Interface("eth0")
				var conn *IPConn
				require.NoError(t, a.Do(func() (err error) {
					conn, err = Listen(ifi, &ListenConfig{IPv6: tt.v6})
					return err
				}))
				d, err := NewDriver(conn, &Config{VRID: 51, Priority: 255, Addrs: tt.addrs, Primary: conn.Source(),
					AdvertInterval: bedInterval, Checksum: tt.form}, nil)
				require.NoError(t, err)
				require.NoError(t, d.Start())
				return func() { require.NoError(t, d.Close()) }
			})
			tsharkDecode(t, file, tt.asV2, 255, len(tt.addrs))
		})
	}
}

// tsharkCapture captures three VRRP advertisements on c's eth0 into file
// with tshark while the sender that send starts runs; send returns how to
// stop it.
func tsharkCapture(t *testing.T, c *testbed.Host, file string, v6 bool, send func() (stop func())) {
	t.Helper()
	filter := "ip proto 112"
	if v6 {
		filter = "ip6 proto 112"
	}
	capture := c.Command("tshark", "-n", "-i", "eth0", "-f", filter, "-c", "3", "-a", "duration:10", "-w", file)
	var stderr syncBuffer
	capture.Stderr = &stderr
	require.NoError(t, capture.Start())
	done := make(chan error, 1)
	go func() { done <- capture.Wait() }()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(stderr.String(), "Capturing on") {
		require.True(t, time.Now().Before(deadline), "tshark did not start: %s", stderr.String())
		time.Sleep(10 * time.Millisecond)
	}
	stop := send()
	defer stop()
	select {
	case err := <-done:
		require.NoError(t, err, stderr.String())
	case <-time.After(15 * time.Second):
		t.Fatal("tshark did not finish")
	}
}

// tsharkDecode decodes the three advertisements in file with tshark and
// checks each: version 3, type 1, VRID 51, priority prio, n addresses, an
// interval of 10 cs, a good checksum and no expert information, under the
// vrrp.v3_checksum_as_in_v2 preference asV2 names (nil: both), and a bad
// checksum under the other one (the check ran).
func tsharkDecode(t *testing.T, file string, asV2 *bool, prio, n int) {
	t.Helper()
	pref := map[bool]string{false: "FALSE", true: "TRUE"}
	head := fmt.Sprintf("3,1,51,%d,%d,10,", prio, n)
	for _, v2 := range []bool{false, true} {
		out, err := exec.Command("tshark", "-n", "-r", file, "-o", "vrrp.v3_checksum_as_in_v2:"+pref[v2],
			"-T", "fields", "-E", "separator=,", "-e", "vrrp.version", "-e", "vrrp.type", "-e", "vrrp.virt_rtr_id",
			"-e", "vrrp.prio", "-e", "vrrp.addr_count", "-e", "vrrp.short_adver_int", "-e", "vrrp.checksum.status",
			"-e", "_ws.expert").Output()
		require.NoError(t, err, string(out))
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		require.Len(t, lines, 3, string(out))
		good := asV2 == nil || *asV2 == v2
		for _, l := range lines {
			// checksum status 1 is good, 0 bad; no expert info.
			if good {
				require.Equal(t, head+"1,", l, "v3_checksum_as_in_v2 %v", v2)
			} else {
				require.True(t, strings.HasPrefix(l, head+"0,"), "v3_checksum_as_in_v2 %v must find the checksum bad: %s", v2, l)
			}
		}
	}
	verbose, err := exec.Command("tshark", "-n", "-r", file, "-V", "-c", "1", "-o",
		"vrrp.v3_checksum_as_in_v2:"+pref[asV2 != nil && *asV2]).Output()
	require.NoError(t, err)
	require.Contains(t, string(verbose), "Virtual Router Redundancy Protocol")
	require.Contains(t, string(verbose), "[Checksum Status: Good]")
	require.NotContains(t, string(verbose), "Expert Info")
}

// syncBuffer is a strings.Builder safe to write from a command's output
// goroutine while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

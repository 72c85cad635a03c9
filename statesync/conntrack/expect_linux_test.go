package conntrack

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/hakit/hakit/internal/testbed"
	"github.com/hakit/hakit/statesync"
)

// expectRules attaches the kernel's FTP helper to connections to port 21
// and its SIP helper to UDP port 5060, translates the FTP control
// connections' source (so that their data connections get the NAT
// helper's translation), and lets no new connection through but to those
// two ports: a data or media connection passes only as related to its
// master, that is when the unit has its expectation.
const expectRules = `table inet helpers {
	ct helper ftp-std {
		type "ftp" protocol tcp
	}
	ct helper sip-std {
		type "sip" protocol udp
	}
	chain pre {
		type filter hook prerouting priority 0;
		tcp dport 21 ct helper set "ftp-std"
		udp dport 5060 ct helper set "sip-std"
	}
	chain strict {
		type filter hook forward priority 10; policy accept;
		ct state new tcp dport != 21 counter drop
		ct state new udp dport != 5060 counter drop
	}
}
table ip ftpnat {
	chain pre {
		type nat hook prerouting priority dstnat; policy accept;
	}
	chain post {
		type nat hook postrouting priority srcnat; policy accept;
		oifname "eth1" tcp dport 21 snat to 198.18.2.1
	}
}`

// rtpAudio is the port of the media stream the client's INVITE announces
// (RTP; the helper expects RTCP on the next port too).
const rtpAudio = 40200

// invite sends a SIP INVITE with an SDP body from the client's port 5060
// to the server's, announcing audio at the client's rtpAudio, and returns
// the client's socket (its media port listens too) and the server's.
func invite(t *testing.T, client, server *testbed.Host) (sig, media, srv *net.UDPConn) {
	t.Helper()
	listen := func(h *testbed.Host, ap netip.AddrPort) *net.UDPConn {
		var c *net.UDPConn
		require.NoError(t, h.Do(func() error {
			var err error
			c, err = net.ListenUDP("udp4", net.UDPAddrFromAddrPort(ap))
			return err
		}))
		t.Cleanup(func() { c.Close() })
		return c
	}
	ca, sa := clientAddr.Addr(), serverAddr.Addr()
	srv = listen(server, netip.AddrPortFrom(sa, 5060))
	sig = listen(client, netip.AddrPortFrom(ca, 5060))
	media = listen(client, netip.AddrPortFrom(ca, rtpAudio))
	sdp := fmt.Sprintf("v=0\r\no=alice 1 1 IN IP4 %s\r\ns=-\r\nc=IN IP4 %s\r\nt=0 0\r\nm=audio %d RTP/AVP 0\r\n", ca, ca, rtpAudio)
	msg := fmt.Sprintf("INVITE sip:bob@%s SIP/2.0\r\n"+
		"Via: SIP/2.0/UDP %s:5060;branch=z9hG4bK74bf9\r\n"+
		"Max-Forwards: 70\r\n"+
		"From: <sip:alice@%s>;tag=9fxced76sl\r\n"+
		"To: <sip:bob@%s>\r\n"+
		"Call-ID: 3848276298220188511@%s\r\n"+
		"CSeq: 1 INVITE\r\n"+
		"Contact: <sip:alice@%s:5060>\r\n"+
		"Content-Type: application/sdp\r\n"+
		"Content-Length: %d\r\n\r\n%s", sa, ca, ca, sa, ca, ca, len(sdp), sdp)
	_, err := sig.WriteToUDPAddrPort([]byte(msg), netip.AddrPortFrom(sa, 5060))
	require.NoError(t, err)
	require.NoError(t, srv.SetReadDeadline(time.Now().Add(5*time.Second)))
	buf := make([]byte, 2048)
	n, _, err := srv.ReadFromUDPAddrPort(buf)
	require.NoError(t, err, "the INVITE through A")
	require.True(t, strings.HasPrefix(string(buf[:n]), "INVITE "))
	return sig, media, srv
}

// passive sends PASV and returns the port the server announced.
func (f *ftpClient) passive(t *testing.T) uint16 {
	t.Helper()
	reply, err := f.command("PASV")
	require.NoError(t, err)
	open, end := strings.IndexByte(reply, '('), strings.IndexByte(reply, ')')
	require.True(t, strings.HasPrefix(reply, "227") && open > 0 && end > open, reply)
	n := strings.Split(reply[open+1:end], ",")
	require.Len(t, n, 6)
	p1, _ := strconv.Atoi(n[4])
	p2, _ := strconv.Atoi(n[5])
	// Acknowledge the reply now rather than after the delayed-ACK timer:
	// an unacknowledged reply would be sent again after the takeover,
	// through B, whose helper would then expect the connection itself.
	raw, err := f.c.(*net.TCPConn).SyscallConn()
	require.NoError(t, err)
	var serr error
	require.NoError(t, raw.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_QUICKACK, 1)
	}))
	require.NoError(t, serr)
	return uint16(p1<<8 | p2)
}

// dataConn opens a passive-mode data connection to port and returns the
// line the server sent on it.
func dataConn(h *testbed.Host, port uint16, timeout time.Duration) (string, error) {
	var c net.Conn
	err := h.Do(func() error {
		var err error
		c, err = net.DialTimeout("tcp4", netip.AddrPortFrom(serverAddr.Addr(), port).String(), timeout)
		return err
	})
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(timeout))
	return bufio.NewReader(c).ReadString('\n')
}

// TestFailoverKeepsExpectations needs root: connections announced
// through A before the takeover and opened through B after it. Both
// firewalls let new connections through only to the FTP and SIP ports,
// and related ones (a helper's expectation matched). Through A: two FTP
// control connections (translated to A's address) ask for a passive-mode
// data connection each (the 227 replies create the expectations, with the
// NAT helper's translation), and a SIP INVITE announces an audio stream
// (RTP and RTCP expectations). The expectations are replicated with their
// masters; B, a warm standby, commits (all but the second FTP one, the
// negative control) and takes over. The first data connection opens through B, translated
// as its master; the second is dropped; the server's RTP stream to the
// announced port reaches the client, one to another port does not.
func TestFailoverKeepsExpectations(t *testing.T) {
	p := newBedPair(t, pairOpts{rules: expectRules})
	ln := ftpServer(t, p.server)
	f1, f2 := dialFTP(t, p.client, ln), dialFTP(t, p.client, ln)
	port1, port2 := f1.passive(t), f2.passive(t)
	sig, media, srv := invite(t, p.client, p.server)
	sipKey := statesync.Key{Proto: 17, Src: netip.MustParseAddrPort(sig.LocalAddr().String()), Dst: netip.AddrPortFrom(serverAddr.Addr(), 5060)}

	want := map[statesync.Key]bool{}
	for _, port := range []uint16{port1, port2} {
		want[statesync.Key{Proto: 6, Src: netip.AddrPortFrom(clientAddr.Addr(), 0), Dst: netip.AddrPortFrom(serverAddr.Addr(), port)}] = true
	}
	for _, port := range []uint16{rtpAudio, rtpAudio + 1} {
		want[statesync.Key{Proto: 17, Src: netip.AddrPortFrom(serverAddr.Addr(), 0), Dst: netip.AddrPortFrom(clientAddr.Addr(), port)}] = true
	}
	p.waitReplica(t, statesync.TCPStateEstablished, keyOf(f1.c), keyOf(f2.c), sipKey)
	require.Eventually(t, func() bool {
		got := p.tableB.Expectations(nil)
		n := 0
		for _, e := range got {
			if want[e.Key] {
				n++
			}
		}
		return n == len(want) && p.recv.InSync()
	}, 5*time.Second, 5*time.Millisecond, "B's expectations: %+v; A's kernel:\n%s", p.tableB.Expectations(nil),
		func() string { out, _ := p.a.h.Run("conntrack", "-L", "expect"); return out }())
	var ftp1 statesync.Expectation
	for _, e := range p.tableB.Expectations(nil) {
		t.Logf("replicated: %+v", e)
		if e.Key.Dst.Port() == port1 {
			ftp1 = e
		}
	}
	require.Equal(t, "ftp", ftp1.Helper)
	require.Equal(t, "nat-follow-master", ftp1.Fn, "the NAT helper's translation")
	require.Equal(t, keyOf(f1.c), ftp1.Master)

	// B is a warm standby (hanode's default): its kernel follows the
	// replica's sessions; the expectations go in at commit.
	inj := dialInjector(t, p.b.h)
	followed := make(chan error, 1)
	go func() { followed <- inj.Follow(context.Background(), p.tableB) }()
	require.Eventually(t, func() bool { return inj.Stats().Injected >= 3 }, 5*time.Second, 5*time.Millisecond)

	p.a.detach()
	p.recv.Commit()
	_, ok := p.tableB.DeleteExpect(statesync.Key{Proto: 6, Src: netip.AddrPortFrom(clientAddr.Addr(), 0), Dst: netip.AddrPortFrom(serverAddr.Addr(), port2)})
	require.True(t, ok) // the negative control
	_, err := inj.Commit(time.Now(), p.tableB)
	require.NoError(t, err)
	require.NoError(t, <-followed)
	p.b.attach()
	st := inj.Stats()
	exp, _ := p.b.h.Run("conntrack", "-L", "expect")
	t.Logf("B's expectations:\n%s", exp)
	require.Equal(t, uint64(3), st.Expectations, "%+v", st)
	require.Zero(t, st.ExpectFailed)

	line, err := dataConn(p.client, port1, 5*time.Second)
	require.NoError(t, err, "the first data connection through B")
	require.Equal(t, "data for 198.18.2.1", line[:strings.LastIndexByte(line, ':')], "translated as its master")
	_, err = dataConn(p.client, port2, time.Second)
	require.Error(t, err, "B has no expectation for the second one")

	rtp := []byte("\x80\x00\x00\x01rtp")
	_, err = srv.WriteToUDPAddrPort(rtp, netip.AddrPortFrom(clientAddr.Addr(), rtpAudio))
	require.NoError(t, err)
	require.NoError(t, media.SetReadDeadline(time.Now().Add(5*time.Second)))
	buf := make([]byte, 64)
	n, from, err := media.ReadFromUDPAddrPort(buf)
	require.NoError(t, err, "the RTP stream through B")
	require.Equal(t, rtp, buf[:n])
	require.Equal(t, serverAddr.Addr(), from.Addr())

	var other *net.UDPConn
	require.NoError(t, p.client.Do(func() error {
		var err error
		other, err = net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(clientAddr.Addr(), rtpAudio+10)))
		return err
	}))
	defer other.Close()
	_, err = srv.WriteToUDPAddrPort(rtp, netip.AddrPortFrom(clientAddr.Addr(), rtpAudio+10))
	require.NoError(t, err)
	require.NoError(t, other.SetReadDeadline(time.Now().Add(time.Second)))
	_, _, err = other.ReadFromUDPAddrPort(buf)
	require.Error(t, err, "a stream the INVITE did not announce is new, and dropped")
}

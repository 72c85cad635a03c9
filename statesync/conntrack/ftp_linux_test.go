package conntrack

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hakit/hakit/internal/testbed"
	"github.com/hakit/hakit/statesync"
)

// ftpRules attaches the kernel's FTP helper to connections to port 21,
// and registers the NAT hook on prerouting that translates the data
// connection (the helper's expectation carries its translation).
const ftpRules = `table inet ftp {
	ct helper ftp-std {
		type "ftp" protocol tcp
	}
	chain pre {
		type filter hook prerouting priority 0;
		tcp dport 21 ct helper set "ftp-std"
	}
}
table ip ftpnat {
	chain pre {
		type nat hook prerouting priority dstnat; policy accept;
	}
}`

// ftpServer is the part of an FTP server that active mode needs: on each
// "PORT h1,h2,h3,h4,p1,p2" of the control connection it connects to that
// address and sends a line, then answers "200".
func ftpServer(t *testing.T, h *testbed.Host) net.Listener {
	t.Helper()
	var ln net.Listener
	require.NoError(t, h.Do(func() error {
		var err error
		ln, err = net.Listen("tcp4", netip.AddrPortFrom(serverAddr.Addr(), 21).String())
		return err
	}))
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				io.WriteString(c, "220 ready\r\n")
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					line = strings.TrimSpace(line)
					if line == "PASV" {
						io.WriteString(c, pasv(t, h)+"\r\n")
						continue
					}
					arg, ok := strings.CutPrefix(line, "PORT ")
					if !ok {
						io.WriteString(c, "200 ok\r\n")
						continue
					}
					f := strings.Split(arg, ",")
					if len(f) != 6 {
						io.WriteString(c, "501 bad PORT\r\n")
						continue
					}
					p1, _ := strconv.Atoi(f[4])
					p2, _ := strconv.Atoi(f[5])
					to := net.JoinHostPort(strings.Join(f[:4], "."), strconv.Itoa(p1*256+p2))
					d := net.Dialer{Timeout: 3 * time.Second}
					var dc net.Conn
					// The data connection comes from the server's namespace.
					err = h.Do(func() error {
						var err error
						dc, err = d.Dial("tcp4", to)
						return err
					})
					if err != nil {
						t.Logf("server: PORT %s: dial %s: %v", arg, to, err)
						io.WriteString(c, "425 no data connection\r\n")
						continue
					}
					io.WriteString(dc, "data for "+arg+"\n")
					dc.Close()
					io.WriteString(c, "200 PORT ok\r\n")
				}
			}()
		}
	}()
	return ln
}

// pasv listens for one passive-mode data connection on the server and
// returns the 227 reply announcing it; the connection gets a line naming
// the address it came from.
func pasv(t *testing.T, h *testbed.Host) string {
	var ln net.Listener
	err := h.Do(func() error {
		var err error
		ln, err = net.Listen("tcp4", netip.AddrPortFrom(serverAddr.Addr(), 0).String())
		return err
	})
	if err != nil {
		t.Logf("server: PASV: %v", err)
		return "425 cannot listen"
	}
	go func() {
		defer ln.Close()
		ln.(*net.TCPListener).SetDeadline(time.Now().Add(30 * time.Second))
		dc, err := ln.Accept()
		if err != nil {
			return
		}
		io.WriteString(dc, "data for "+dc.RemoteAddr().String()+"\n")
		dc.Close()
	}()
	a, port := serverAddr.Addr().As4(), ln.Addr().(*net.TCPAddr).Port
	return fmt.Sprintf("227 Entering Passive Mode (%d,%d,%d,%d,%d,%d)", a[0], a[1], a[2], a[3], port>>8, port&0xff)
}

// ftpClient is a control connection from the client.
type ftpClient struct {
	c net.Conn
	r *bufio.Reader
}

func dialFTP(t *testing.T, h *testbed.Host, ln net.Listener) *ftpClient {
	t.Helper()
	var c net.Conn
	require.NoError(t, h.Do(func() error {
		var err error
		c, err = net.DialTimeout("tcp4", ln.Addr().String(), 5*time.Second)
		return err
	}))
	t.Cleanup(func() { c.Close() })
	f := &ftpClient{c: c, r: bufio.NewReader(c)}
	require.NoError(t, c.SetReadDeadline(time.Now().Add(5*time.Second)))
	line, err := f.r.ReadString('\n')
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(line, "220"), line)
	// The helper recognises a command at the start of a line: after the
	// first one it has seen end.
	reply, err := f.command("USER anonymous")
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(reply, "200"), reply)
	return f
}

// command sends line and returns the reply line.
func (f *ftpClient) command(line string) (string, error) {
	if _, err := io.WriteString(f.c, line+"\r\n"); err != nil {
		return "", err
	}
	if err := f.c.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		return "", err
	}
	return f.r.ReadString('\n')
}

// active runs an active-mode transfer: the client listens, announces its
// address with PORT, and waits for the server's data connection.
func (f *ftpClient) active(t *testing.T, h *testbed.Host, port uint16) error {
	t.Helper()
	var ln net.Listener
	require.NoError(t, h.Do(func() error {
		var err error
		ln, err = net.Listen("tcp4", netip.AddrPortFrom(clientAddr.Addr(), port).String())
		return err
	}))
	defer ln.Close()
	got := make(chan string, 1)
	go func() {
		dc, err := ln.Accept()
		if err != nil {
			return
		}
		defer dc.Close()
		dc.SetReadDeadline(time.Now().Add(5 * time.Second))
		line, _ := bufio.NewReader(dc).ReadString('\n')
		got <- line
	}()
	a := clientAddr.Addr().As4()
	reply, err := f.command(fmt.Sprintf("PORT %d,%d,%d,%d,%d,%d", a[0], a[1], a[2], a[3], port>>8, port&0xff))
	if err != nil {
		return fmt.Errorf("control connection: %w", err)
	}
	if !strings.HasPrefix(reply, "200") {
		return fmt.Errorf("no data connection: %q", reply)
	}
	select {
	case line := <-got:
		if !strings.HasPrefix(line, "data for ") {
			return fmt.Errorf("data connection carried %q", line)
		}
		return nil
	case <-time.After(5 * time.Second):
		return fmt.Errorf("no data")
	}
}

// TestFailoverKeepsFTPThroughNAT needs root: an FTP control connection in
// active mode through A, with source NAT and the kernel's FTP helper (it
// rewrites the PORT command to A's address, one byte shorter, so the
// connection's sequence numbers are adjusted from then on). B commits and
// takes over; the same control connection's next PORT command gets its
// data connection through B: B's entry has the helper (which expects the
// data connection and rewrites the command) and the adjustment (without
// which the server would see the wrong sequence numbers). A second control
// connection, replicated without its helper (the negative control), gets
// no data connection through B.
func TestFailoverKeepsFTPThroughNAT(t *testing.T) {
	p := newBedPair(t, pairOpts{nat: true, rules: ftpRules})
	ln := ftpServer(t, p.server)
	f1 := dialFTP(t, p.client, ln)
	f2 := dialFTP(t, p.client, ln)
	err0 := f1.active(t, p.client, 40101)
	if err0 != nil {
		out, _ := p.a.h.Run("conntrack", "-L")
		exp, _ := p.a.h.Run("conntrack", "-L", "expect")
		nft, _ := p.a.h.Run("nft", "list", "ruleset")
		t.Logf("A's conntrack:\n%s\nexpectations:\n%s\nruleset:\n%s", out, exp, nft)
	}
	require.NoError(t, err0, "through A")
	require.NoError(t, f2.active(t, p.client, 40102), "through A")
	k1, k2 := keyOf(f1.c), keyOf(f2.c)
	p.waitReplica(t, statesync.TCPStateEstablished, k1, k2)
	require.Eventually(t, func() bool {
		s1, _ := p.tableB.Get(k1)
		s2, _ := p.tableB.Get(k2)
		return s1.Helper == "ftp" && s1.SeqAdj[0] != (statesync.SeqAdj{}) && s2.SeqAdj[0] != (statesync.SeqAdj{})
	}, 5*time.Second, 10*time.Millisecond, "B's replica has the helper and the adjustments: A's table %+v, B's %+v, A's kernel %+v",
		func() statesync.Session { s, _ := p.tableA.Get(k1); return s }(), func() statesync.Session { s, _ := p.tableB.Get(k1); return s }(),
		dumpSessions(t, p.a.h)[k1])
	s1, _ := p.tableB.Get(k1)
	t.Logf("replicated: %+v", s1)

	p.a.detach()
	p.recv.Commit()
	s2, _ := p.tableB.Get(k2)
	s2.Helper = "" // the negative control
	p.tableB.Store(s2)
	inj := dialInjector(t, p.b.h)
	_, err := inj.Commit(time.Now(), p.tableB)
	require.NoError(t, err)
	p.b.attach()

	// A line first: the helper on B learns where commands start.
	reply, err := f1.command("NOOP")
	require.NoError(t, err, "the control connection through B")
	require.True(t, strings.HasPrefix(reply, "200"), reply)
	require.NoError(t, f1.active(t, p.client, 40103), "a data connection through B")
	reply, err = f2.command("NOOP")
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(reply, "200"), reply)
	require.Error(t, f2.active(t, p.client, 40104), "without the helper, B lets no data connection through")
}

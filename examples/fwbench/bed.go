//go:build linux

package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hakit/hakit/internal/testbed"
	"github.com/hakit/hakit/statesync"
	"github.com/hakit/hakit/statesync/conntrack"
)

// The bed's addresses, all in 198.18.0.0/15: the gateways the active unit
// holds, the client and the server.
var (
	gwClient   = netip.MustParsePrefix("198.18.1.1/24")
	gwServer   = netip.MustParsePrefix("198.18.2.1/24")
	clientAddr = netip.MustParsePrefix("198.18.1.10/24")
	serverAddr = netip.MustParsePrefix("198.18.2.10/24")
)

// ruleset forwards established and related traffic, and new connections
// from the client side.
const ruleset = `table inet fw {
	chain forward {
		type filter hook forward priority 0; policy drop;
		ct state established,related accept
		iifname "eth0" ct state new accept
	}
}`

// pair is the bed of one run.
type pair struct {
	bed            *testbed.Bed
	dir            string
	client, server *testbed.Host
	units          [2]*unit
}

// unit is a firewall: A (n 2) or B (n 3).
type unit struct {
	name  string
	n     int
	h     *testbed.Host
	links []*testbed.Link // client side, server side, sync
	dir   string
	procs []*exec.Cmd
}

func (u *unit) syncAddr() netip.Addr { return netip.AddrFrom4([4]byte{198, 18, 3, byte(u.n)}) }

// The bed of the current run, for Ctrl-C.
var (
	curMu  sync.Mutex
	curBed *testbed.Bed
)

func closeCurrent() {
	curMu.Lock()
	defer curMu.Unlock()
	if curBed != nil {
		curBed.Close()
	}
}

// newPair builds the bed in its own namespaces.
func newPair(dir string) (*pair, error) {
	bed, err := testbed.Open("fwbench")
	if err != nil {
		return nil, err
	}
	curMu.Lock()
	curBed = bed
	curMu.Unlock()
	p := &pair{bed: bed, dir: dir}
	c, s, y := bed.Bridge("c"), bed.Bridge("s"), bed.Bridge("y")
	p.client, p.server = bed.Host("client"), bed.Host("server")
	bed.Link(p.client, c, "eth0")
	bed.Link(p.server, s, "eth0")
	p.client.AddAddr("eth0", clientAddr)
	p.server.AddAddr("eth0", serverAddr)
	for _, r := range []struct {
		h  *testbed.Host
		gw netip.Addr
	}{{p.client, gwClient.Addr()}, {p.server, gwServer.Addr()}} {
		if _, err := r.h.Run("ip", "route", "add", "default", "via", r.gw.String()); err != nil {
			bed.Close()
			return nil, err
		}
	}
	for i, name := range []string{"fwa", "fwb"} {
		u := &unit{name: name, n: i + 2, h: bed.Host(name), dir: filepath.Join(dir, name)}
		if err := os.MkdirAll(u.dir, 0o700); err != nil {
			bed.Close()
			return nil, err
		}
		u.links = []*testbed.Link{bed.Link(u.h, c, "eth0"), bed.Link(u.h, s, "eth1"), bed.Link(u.h, y, "eth2")}
		for j, ifname := range []string{"eth0", "eth1", "eth2"} {
			u.h.AddAddr(ifname, netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 18, byte(j + 1), byte(u.n)}), 24))
		}
		for _, kv := range [][2]string{
			{"net.ipv4.ip_forward", "1"},
			{"net.netfilter.nf_conntrack_tcp_loose", "0"},
			{"net.netfilter.nf_conntrack_events", "1"},
		} {
			u.h.Sysctl(kv[0], kv[1])
		}
		cmd := u.h.Command("nft", "-f", "-")
		cmd.Stdin = strings.NewReader(ruleset)
		if out, err := cmd.CombinedOutput(); err != nil {
			bed.Close()
			return nil, fmt.Errorf("fwbench: nft: %v: %s", err, out)
		}
		p.units[i] = u
	}
	// The units' neighbour caches know the client and the server.
	for _, u := range p.units {
		for _, a := range []struct {
			h    *testbed.Host
			addr string
		}{{p.client, fmt.Sprintf("198.18.1.%d", u.n)}, {p.server, fmt.Sprintf("198.18.2.%d", u.n)}} {
			if _, err := a.h.Run("ping", "-c1", "-W1", a.addr); err != nil {
				bed.Close()
				return nil, err
			}
		}
	}
	return p, nil
}

// start runs a daemon in u's namespace, its output to a log in u.dir.
func (u *unit) start(name string, args ...string) (*exec.Cmd, error) {
	f, err := os.OpenFile(filepath.Join(u.dir, filepath.Base(name)+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	cmd := u.h.Command(name, args...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("fwbench: start %s on %s: %w", name, u.name, err)
	}
	u.procs = append(u.procs, cmd)
	return cmd, nil
}

// crash is a power loss: the daemons freeze (they see nothing of what
// follows), every cable goes dark at once, the daemons are killed.
func (p *pair) crash(u *unit) {
	for _, c := range u.procs {
		_ = c.Process.Signal(syscall.SIGSTOP)
	}
	p.bed.DownAll(func() {
		for _, c := range u.procs {
			_ = c.Process.Kill()
			_, _ = c.Process.Wait()
		}
	}, u.links...)
}

// holdsGateway reports whether u has the client-side gateway address.
func (u *unit) holdsGateway() bool {
	out, err := u.h.Run("ip", "-4", "-o", "addr", "show", "dev", "eth0")
	return err == nil && strings.Contains(out, " "+gwClient.Addr().String()+"/")
}

// kernelCount returns the number of entries in u's conntrack table.
func (u *unit) kernelCount() int {
	out, err := u.h.Run("conntrack", "-C")
	if err != nil {
		return -1
	}
	n, _ := strconv.Atoi(strings.TrimSpace(out))
	return n
}

// fill writes n sessions that expire in an hour into u's kernel.
func (u *unit) fill(n int) error {
	if n == 0 {
		return nil
	}
	t := statesync.NewTable(n)
	exp := statesync.Deadline(time.Now().Add(time.Hour))
	for i := range n {
		t.Upsert(statesync.Session{
			Key: statesync.Key{Proto: 6,
				Src: netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 18, 10 + byte(i>>16), byte(i >> 8)}), 1024+uint16(i)),
				Dst: netip.MustParseAddrPort("198.19.0.1:443")},
			State: statesync.TCPStateEstablished, Status: 0x0e, Expires: exp,
		})
	}
	var in *conntrack.Injector
	if err := u.h.Do(func() error {
		var err error
		in, err = conntrack.DialInjector(nil)
		return err
	}); err != nil {
		return err
	}
	defer in.Close()
	_, err := in.Commit(time.Now(), t)
	return err
}

// waitFor polls ok until it holds or limit passes.
func waitFor(limit time.Duration, what string, ok func() bool) error {
	deadline := time.Now().Add(limit)
	for !ok() {
		if time.Now().After(deadline) {
			return fmt.Errorf("not %s after %v", what, limit)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil
}

// stream is a TCP connection from the client to the server through the
// gateway: the client writes a numbered message every millisecond, the
// server echoes it, and the client records the longest silence.
type stream struct {
	c, s  net.Conn
	local netip.AddrPort
	mu    sync.Mutex
	last  time.Time
	gap   time.Duration
	n     int
	err   error
	stop  chan struct{}
}

func (p *pair) openStream() (*stream, error) {
	var ln net.Listener
	if err := p.server.Do(func() error {
		var err error
		ln, err = net.Listen("tcp4", netip.AddrPortFrom(serverAddr.Addr(), 8080).String())
		return err
	}); err != nil {
		return nil, err
	}
	defer ln.Close()
	st := &stream{stop: make(chan struct{})}
	if err := p.client.Do(func() error {
		var err error
		st.c, err = net.DialTimeout("tcp4", ln.Addr().String(), 5*time.Second)
		return err
	}); err != nil {
		return nil, err
	}
	st.local = st.c.LocalAddr().(*net.TCPAddr).AddrPort()
	var err error
	if st.s, err = ln.Accept(); err != nil {
		st.c.Close()
		return nil, err
	}
	go func() { _, _ = io.Copy(st.s, st.s) }()
	go func() {
		var b [8]byte
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for i := uint64(1); ; i++ {
			select {
			case <-st.stop:
				return
			case <-t.C:
			}
			binary.BigEndian.PutUint64(b[:], i)
			if _, err := st.c.Write(b[:]); err != nil {
				st.fail(err)
				return
			}
		}
	}()
	go func() {
		b := make([]byte, 8)
		for want := uint64(1); ; want++ {
			if _, err := io.ReadFull(st.c, b); err != nil {
				st.fail(err)
				return
			}
			if got := binary.BigEndian.Uint64(b); got != want {
				st.fail(fmt.Errorf("echo %d, want %d", got, want))
				return
			}
			now := time.Now()
			st.mu.Lock()
			if !st.last.IsZero() {
				st.gap = max(st.gap, now.Sub(st.last))
			}
			st.last = now
			st.n++
			st.mu.Unlock()
		}
	}()
	return st, nil
}

func (st *stream) fail(err error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	select {
	case <-st.stop:
	default:
		if st.err == nil {
			st.err = err
		}
	}
}

func (st *stream) close() {
	close(st.stop)
	st.c.Close()
	st.s.Close()
}

// reset starts a new measurement.
func (st *stream) reset() {
	st.mu.Lock()
	st.gap, st.n = 0, 0
	st.mu.Unlock()
}

func (st *stream) state() (gap time.Duration, n int, err error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.gap, st.n, st.err
}

// flowing waits until the stream carried n more echoes.
func (st *stream) flowing(n int, limit time.Duration) error {
	_, base, _ := st.state()
	var err error
	werr := waitFor(limit, "flowing", func() bool {
		var got int
		_, got, err = st.state()
		return err != nil || got >= base+n
	})
	if err != nil {
		return fmt.Errorf("the stream broke: %w", err)
	}
	return werr
}

// probe is a UDP flow from the client to the server through the gateway:
// a datagram every millisecond, echoed; it shows when the path is back
// (a unit without the flow's entry lets the client's next datagram create
// one), where the TCP stream shows when a session is.
type probe struct {
	c, s *net.UDPConn
	mu   sync.Mutex
	last time.Time
	gap  time.Duration
	n    int
	stop chan struct{}
}

func (p *pair) openProbe() (*probe, error) {
	pr := &probe{stop: make(chan struct{})}
	if err := p.server.Do(func() error {
		var err error
		pr.s, err = net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(serverAddr.Addr(), 9009)))
		return err
	}); err != nil {
		return nil, err
	}
	if err := p.client.Do(func() error {
		var err error
		pr.c, err = net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(serverAddr.Addr(), 9009)))
		return err
	}); err != nil {
		pr.s.Close()
		return nil, err
	}
	go func() {
		b := make([]byte, 64)
		for {
			n, from, err := pr.s.ReadFromUDPAddrPort(b)
			if err != nil {
				return
			}
			_, _ = pr.s.WriteToUDPAddrPort(b[:n], from)
		}
	}()
	go func() {
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		var b [8]byte
		for i := uint64(1); ; i++ {
			select {
			case <-pr.stop:
				return
			case <-t.C:
			}
			binary.BigEndian.PutUint64(b[:], i)
			_, _ = pr.c.Write(b[:])
		}
	}()
	go func() {
		b := make([]byte, 64)
		for {
			if _, err := pr.c.Read(b); err != nil {
				if errors.Is(err, net.ErrClosed) {
					return
				}
				continue // ICMP unreachable while the path moves
			}
			now := time.Now()
			pr.mu.Lock()
			if !pr.last.IsZero() {
				pr.gap = max(pr.gap, now.Sub(pr.last))
			}
			pr.last = now
			pr.n++
			pr.mu.Unlock()
		}
	}()
	return pr, nil
}

func (pr *probe) reset() {
	pr.mu.Lock()
	pr.gap, pr.n = 0, 0
	pr.mu.Unlock()
}

func (pr *probe) state() (time.Duration, int) {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	return pr.gap, pr.n
}

func (pr *probe) close() {
	close(pr.stop)
	pr.c.Close()
	pr.s.Close()
}

// gaps are a run's results: the UDP probe's longest silence (the path)
// and the TCP stream's (its session).
type gaps struct{ udp, tcp time.Duration }

// failover is one run: the bed, the sessions in A's kernel, the daemons,
// the stream through A, then A's power loss; it returns the stream's
// longest silence until it flows through B, and the UDP probe's.
func failover(dir string, sys system, n int, interval time.Duration) (gaps, error) {
	p, err := newPair(dir)
	if err != nil {
		return gaps{}, err
	}
	defer p.bed.Close()
	a, b := p.units[0], p.units[1]
	if err := a.fill(n); err != nil {
		return gaps{}, fmt.Errorf("filling A's kernel: %w", err)
	}
	if err := sys.start(a, b, true, interval); err != nil {
		return gaps{}, err
	}
	if err := waitFor(30*time.Second, "A active", a.holdsGateway); err != nil {
		return gaps{}, err
	}
	if err := sys.start(b, a, false, interval); err != nil {
		return gaps{}, err
	}
	if err := sys.ready(b, n, 5*time.Minute); err != nil {
		return gaps{}, fmt.Errorf("unit B: %w", err)
	}
	st, err := p.openStream()
	if err != nil {
		return gaps{}, err
	}
	defer st.close()
	if err := st.flowing(500, 10*time.Second); err != nil {
		return gaps{}, err
	}
	if err := sys.holds(b, st.local, 30*time.Second); err != nil {
		return gaps{}, fmt.Errorf("unit B does not hold the stream: %w", err)
	}
	if err := st.flowing(200, 10*time.Second); err != nil {
		return gaps{}, err
	}
	pr, err := p.openProbe()
	if err != nil {
		return gaps{}, err
	}
	defer pr.close()
	if err := waitFor(10*time.Second, "probed", func() bool { _, n := pr.state(); return n > 500 }); err != nil {
		return gaps{}, err
	}
	logf("%s: A active, B ready with %d sessions (kernel: %d), the stream flows", sys.name(), n, b.kernelCount())
	st.reset()
	pr.reset()
	p.crash(a)
	if err := st.flowing(1000, 2*time.Minute); err != nil {
		return gaps{}, fmt.Errorf("after A's power loss: %w", err)
	}
	if !b.holdsGateway() {
		return gaps{}, errors.New("the stream flows but B does not hold the gateway")
	}
	if err := waitFor(time.Minute, "probed through B", func() bool { _, n := pr.state(); return n > 500 }); err != nil {
		return gaps{}, err
	}
	tcp, _, _ := st.state()
	udp, _ := pr.state()
	return gaps{udp: udp, tcp: tcp}, nil
}

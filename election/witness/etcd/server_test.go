package etcd_test

import (
	"net"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
)

// server is a real single-member etcd, embedded in the test binary, on
// loopback ports that stay the same across restarts, with its data in a
// directory that does too.
type server struct {
	t       *testing.T
	dir     string
	client  url.URL
	peer    url.URL
	e       *embed.Etcd
	mu      sync.Mutex
	running bool
}

func startServer(t *testing.T) *server {
	t.Helper()
	s := &server{t: t, dir: t.TempDir()}
	s.client = url.URL{Scheme: "http", Host: freePort(t)}
	s.peer = url.URL{Scheme: "http", Host: freePort(t)}
	s.start()
	t.Cleanup(s.stop)
	return s
}

// freePort returns a loopback address with a port nothing listens on now.
func freePort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().String()
}

// start starts (or restarts) the server.
func (s *server) start() {
	s.t.Helper()
	cfg := embed.NewConfig()
	cfg.Name = "witness"
	cfg.Dir = s.dir
	cfg.ListenClientUrls = []url.URL{s.client}
	cfg.AdvertiseClientUrls = []url.URL{s.client}
	cfg.ListenPeerUrls = []url.URL{s.peer}
	cfg.AdvertisePeerUrls = []url.URL{s.peer}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop()) // it logs its shutdown as errors
	cfg.UnsafeNoFsync = true                                       // test data: no need to survive a power cut
	var err error
	for try := 0; ; try++ {
		s.e, err = embed.StartEtcd(cfg)
		if err == nil || try == 20 {
			break
		}
		time.Sleep(100 * time.Millisecond) // the port of the last run may linger
	}
	require.NoError(s.t, err)
	select {
	case <-s.e.Server.ReadyNotify():
	case <-time.After(30 * time.Second):
		s.e.Close()
		s.t.Fatal("etcd did not become ready in 30s")
	}
	s.mu.Lock()
	s.running = true
	s.mu.Unlock()
}

// stop stops the server; its data stays for a restart.
func (s *server) stop() {
	s.mu.Lock()
	running := s.running
	s.running = false
	s.mu.Unlock()
	if running {
		s.e.Close()
	}
}

// newClient returns a client that reaches the server through r.
func newClient(t *testing.T, r *relay) *clientv3.Client {
	t.Helper()
	c, err := clientv3.New(clientv3.Config{
		Endpoints:   []string{r.addr()},
		DialTimeout: 5 * time.Second,
		Logger:      zap.NewNop(),
	})
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

// relay forwards TCP connections to the server, and can freeze them: while
// frozen, bytes are read but held, as on a network path that stopped
// delivering (or a unit whose process is stopped), and flow again on thaw.
type relay struct {
	ln     net.Listener
	target string

	mu     sync.Mutex
	cond   *sync.Cond
	frozen bool
	conns  map[net.Conn]struct{}
	closed bool
}

func newRelay(t *testing.T, s *server) *relay {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	r := &relay{ln: ln, target: s.client.Host, conns: make(map[net.Conn]struct{})}
	r.cond = sync.NewCond(&r.mu)
	go r.serve()
	t.Cleanup(r.close)
	return r
}

func (r *relay) addr() string { return r.ln.Addr().String() }

func (r *relay) freeze() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.frozen = true
}

func (r *relay) thaw() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.frozen = false
	r.cond.Broadcast()
}

func (r *relay) close() {
	r.ln.Close()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed, r.frozen = true, false
	for c := range r.conns {
		c.Close()
	}
	r.cond.Broadcast()
}

func (r *relay) serve() {
	for {
		c, err := r.ln.Accept()
		if err != nil {
			return
		}
		go r.forward(c)
	}
}

func (r *relay) track(cs ...net.Conn) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return false
	}
	for _, c := range cs {
		r.conns[c] = struct{}{}
	}
	return true
}

func (r *relay) forward(c net.Conn) {
	up, err := net.DialTimeout("tcp", r.target, time.Second)
	if err != nil { // the server is down: refuse, as it would
		c.Close()
		return
	}
	if !r.track(c, up) {
		c.Close()
		up.Close()
		return
	}
	done := make(chan struct{}, 2)
	go r.copy(up, c, done)
	go r.copy(c, up, done)
	<-done
	c.Close()
	up.Close()
	r.mu.Lock()
	delete(r.conns, c)
	delete(r.conns, up)
	r.mu.Unlock()
}

func (r *relay) copy(dst, src net.Conn, done chan<- struct{}) {
	defer func() { done <- struct{}{} }()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		r.mu.Lock()
		for r.frozen {
			r.cond.Wait()
		}
		r.mu.Unlock()
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil { // io.EOF or a closed connection
			return
		}
	}
}

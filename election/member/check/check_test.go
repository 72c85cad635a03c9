package check_test

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hakit/hakit/election/member/check"
	"github.com/hakit/hakit/heartbeat"
	"github.com/hakit/hakit/internal/simnet"
)

func TestScript(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("needs a POSIX shell")
	}
	ctx := context.Background()
	require.NoError(t, check.Script("sh", "-c", "exit 0")(ctx))
	err := check.Script("sh", "-c", "echo 'haproxy not answering' >&2; echo more >&2; exit 3")(ctx)
	require.EqualError(t, err, "exit status 3: haproxy not answering")
	require.Error(t, check.Script("/nonexistent/script")(ctx))

	// A script that hangs, with a child holding its stderr: killed, group
	// and all, at the timeout.
	tctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = check.Script("sh", "-c", "sleep 30 & sleep 30")(tctx)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Less(t, time.Since(start), 5*time.Second)
}

func TestFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state")
	probe := check.File(path)
	ctx := context.Background()
	require.ErrorIs(t, probe(ctx), os.ErrNotExist)
	for _, c := range []struct{ content, err string }{
		{"0\n", ""},
		{" 0 ", ""},
		{"1\n", path + " holds 1"},
		{"-5", path + " holds -5"},
		{"maintenance", path + ` holds "maintenance", not an integer`},
	} {
		require.NoError(t, os.WriteFile(path, []byte(c.content), 0o644))
		if c.err == "" {
			require.NoError(t, probe(ctx), "%q", c.content)
		} else {
			require.EqualError(t, probe(ctx), c.err)
		}
	}
}

func TestInterface(t *testing.T) {
	ifs, err := net.Interfaces()
	require.NoError(t, err)
	for _, ifi := range ifs {
		err := check.Interface(ifi.Name)(context.Background())
		up := ifi.Flags&net.FlagUp != 0 && ifi.Flags&net.FlagRunning != 0
		require.Equal(t, up, err == nil, "%s: %v", ifi.Name, err)
	}
	require.Error(t, check.Interface("nonexistent0")(context.Background()))
}

func TestProcess(t *testing.T) {
	if runtime.GOOS != "linux" {
		require.ErrorIs(t, check.Process("init")(context.Background()), errors.ErrUnsupported)
		return
	}
	exe, err := os.Executable()
	require.NoError(t, err)
	require.NoError(t, check.Process(filepath.Base(exe))(context.Background()))
	require.EqualError(t, check.Process("no-such-process-x")(context.Background()), "no process no-such-process-x")
}

func TestNeighbour(t *testing.T) {
	seg := simnet.New(&simnet.Config{Seed: 1})
	gwMAC := net.HardwareAddr{2, 0, 0, 0, 0, 1}
	gw := netip.MustParseAddr("198.18.0.1")
	router, err := heartbeat.NewPacketProber(seg.Attach("router", gwMAC), gwMAC, gw)
	require.NoError(t, err)
	go func() { // answers ARP requests for gw while it reads
		for {
			if _, err := router.ReadReply(); err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() { router.Close() })

	probe := func(target netip.Addr, name string, b byte) *check.Neighbour {
		mac := net.HardwareAddr{2, 0, 0, 0, 1, b}
		p, err := heartbeat.NewPacketProber(seg.Attach(name, mac), mac, netip.AddrFrom4([4]byte{198, 18, 0, 10 + b}))
		require.NoError(t, err)
		n, err := check.NewNeighbour(p, target)
		require.NoError(t, err)
		t.Cleanup(func() { require.NoError(t, n.Close()) })
		return n
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, probe(gw, "unit", 1).Probe(ctx))

	nobody := probe(netip.MustParseAddr("198.18.0.99"), "unit2", 2)
	sctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	require.EqualError(t, nobody.Probe(sctx), "no answer from 198.18.0.99")

	_, err = check.NewNeighbour(nil, gw)
	require.Error(t, err)
}

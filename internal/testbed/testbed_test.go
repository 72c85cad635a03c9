package testbed

import (
	"errors"
	"math"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestVerdict(t *testing.T) {
	for _, tc := range []struct {
		name      string
		err       error
		ci        bool
		wantMsg   string
		wantFatal bool
	}{
		{"ready", nil, false, "", false},
		{"ready in CI", nil, true, "", false},
		{"not root", ErrNeedRoot, false, "testbed: needs root (CAP_NET_ADMIN) to create network namespaces", false},
		{"not root in CI", ErrNeedRoot, true, "testbed: needs root (CAP_NET_ADMIN) to create network namespaces (CI=true: privileged tests must run, not skip)", true},
		{"no nft in CI", ErrMissingTool, true, "testbed: missing tool (CI=true: privileged tests must run, not skip)", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msg, fatal := verdict(tc.err, tc.ci)
			require.Equal(t, tc.wantMsg, msg)
			require.Equal(t, tc.wantFatal, fatal)
		})
	}
}

func TestAllowed(t *testing.T) {
	for _, tc := range []struct {
		p    string
		want bool
	}{
		{"198.18.0.1/24", true},
		{"198.19.255.254/15", true},
		{"198.18.0.1/32", true},
		{"198.18.0.1/8", false}, // the prefix spills out of the range
		{"198.20.0.1/24", false},
		{"192.168.1.1/24", false},
		{"10.0.0.1/8", false},
		{"2001:db8::1/64", true},
		{"2001:db8:ffff::1/48", true},
		{"2001:db9::1/64", false},
		{"fe80::1/64", false},
		{"::ffff:198.18.0.1/120", false},
	} {
		t.Run(tc.p, func(t *testing.T) {
			require.Equal(t, tc.want, allowed(netip.MustParsePrefix(tc.p)))
		})
	}
	require.False(t, allowed(netip.Prefix{}))
}

func TestValidName(t *testing.T) {
	for _, tc := range []struct {
		s    string
		max  int
		want bool
	}{
		{"eth0", 15, true},
		{"a", 15, true},
		{"sync-0.10", 15, true},
		{"", 15, false},
		{".", 15, false},
		{"..", 15, false},
		{"0123456789abcdef", 15, false},
		{"0123456789abcde", 15, true},
		{"a/b", 32, false},
		{"a b", 32, false},
		{"é", 32, false},
	} {
		require.Equal(t, tc.want, validName(tc.s, tc.max), "%q", tc.s)
	}
}

func TestLossScript(t *testing.T) {
	a := &Link{peer: "a-eth0"}
	b := &Link{peer: "b-eth0"}
	for _, tc := range []struct {
		name  string
		m     Match
		share float64
		rule  string
	}{
		{"all", Match{}, 0.2, "numgen random mod 1000 < 200 counter drop"},
		{"rounding", Match{}, 0.0333, "numgen random mod 1000 < 33 counter drop"},
		{"everything", Match{}, 1, "counter drop"},
		{"in port", Match{In: a}, 0.5, `iifname "a-eth0" numgen random mod 1000 < 500 counter drop`},
		{"out port and type", Match{Out: b, EtherType: 0xC14B}, 0.1,
			`oifname "b-eth0" ether type 0xc14b numgen random mod 1000 < 100 counter drop`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := lossScript("hk_loss_1", tc.m, tc.share)
			require.NoError(t, err)
			require.Equal(t, "table bridge hk_loss_1 {\n\tchain loss {\n\t\ttype filter hook forward priority 0; policy accept;\n\t\t"+
				tc.rule+"\n\t}\n}\n", got)
		})
	}
	got, err := lossScript("t", Match{}, 0)
	require.NoError(t, err)
	require.NotContains(t, got, "drop")
	for _, bad := range []float64{-0.1, 1.01, math.NaN()} {
		_, err := lossScript("t", Match{}, bad)
		require.Error(t, err, "%v", bad)
	}
}

func TestParseNeighbours(t *testing.T) {
	out := `[{"dst":"198.18.0.2","lladdr":"02:00:00:00:00:02","state":["REACHABLE"]},` +
		`{"dst":"198.18.0.3","state":["FAILED"]},` +
		`{"dst":"2001:db8::2","lladdr":"02:00:00:00:00:02","router":null,"state":["STALE"]}]`
	got, err := parseNeighbours([]byte(out))
	require.NoError(t, err)
	mac := net.HardwareAddr{2, 0, 0, 0, 0, 2}
	require.Equal(t, []Neighbour{
		{IP: netip.MustParseAddr("198.18.0.2"), MAC: mac, State: "REACHABLE"},
		{IP: netip.MustParseAddr("2001:db8::2"), MAC: mac, State: "STALE"},
	}, got)

	got, err = parseNeighbours([]byte("\n"))
	require.NoError(t, err)
	require.Empty(t, got)

	_, err = parseNeighbours([]byte(`[{"dst":"nope","lladdr":"02:00:00:00:00:02"}]`))
	require.Error(t, err)
	_, err = parseNeighbours([]byte(`{`))
	require.Error(t, err)
}

func TestParseFDB(t *testing.T) {
	a := &Link{host: &Host{name: "a"}, peer: "a-eth0"}
	out := `[{"mac":"33:33:00:00:00:01","ifname":"lan","flags":["self"],"state":"permanent"},` +
		`{"mac":"76:da:ca:23:45:6c","ifname":"a-eth0","flags":[],"master":"lan","state":""},` +
		`{"mac":"7e:82:dc:aa:c0:4d","ifname":"a-eth0","flags":[],"master":"lan","state":"permanent"},` +
		`{"mac":"33:33:00:00:00:01","ifname":"a-eth0","flags":["self"],"state":"permanent"},` +
		`{"mac":"02:00:00:00:00:09","ifname":"other","flags":[],"master":"lan","state":""}]`
	got, err := parseFDB([]byte(out), "lan", map[string]*Link{"a-eth0": a})
	require.NoError(t, err)
	require.Equal(t, []FDBEntry{
		{MAC: net.HardwareAddr{0x76, 0xda, 0xca, 0x23, 0x45, 0x6c}, Port: "a", Link: a},
		{MAC: net.HardwareAddr{0x7e, 0x82, 0xdc, 0xaa, 0xc0, 0x4d}, Port: "a", Link: a, Local: true},
		{MAC: net.HardwareAddr{2, 0, 0, 0, 0, 9}, Port: "other"},
	}, got)

	_, err = parseFDB([]byte(`[{"mac":"zz","ifname":"a-eth0"}]`), "lan", nil)
	require.Error(t, err)
}

func TestOpenOrError(t *testing.T) {
	// Open either works (root with the tools) or says why not, wrapping a
	// sentinel; it never panics.
	b, err := Open("probe")
	if err != nil {
		require.True(t, errors.Is(err, ErrNeedRoot) || errors.Is(err, ErrMissingTool) || errors.Is(err, ErrNotSupported), err)
		return
	}
	require.NoError(t, b.Close())
}

func TestSettled(t *testing.T) {
	iface := func(flags, qdisc, oper string) []byte {
		return []byte(`[{"ifname":"x","flags":[` + flags + `],"qdisc":"` + qdisc + `","operstate":"` + oper + `"}]`)
	}
	port := func(state string) []byte {
		return []byte(`[{"ifname":"x","flags":[],"state":"` + state + `"}]`)
	}
	up := `"BROADCAST","UP","LOWER_UP"`
	upNoCarrier := `"NO-CARRIER","BROADCAST","UP"`
	down := `"BROADCAST"`
	for _, tc := range []struct {
		name             string
		host, peer, port []byte
		want             bool
	}{
		{"up and forwarding", iface(up, "noqueue", "UP"), iface(up, "noqueue", "UP"), port("forwarding"), true},
		{"queue not attached yet", iface(up, "noop", "UP"), iface(up, "noqueue", "UP"), port("forwarding"), false},
		{"host end not running yet", iface(up, "noqueue", "LOWERLAYERDOWN"), iface(up, "noqueue", "UP"), port("forwarding"), false},
		{"port not forwarding yet", iface(up, "noqueue", "UP"), iface(up, "noqueue", "UP"), port("disabled"), false},
		{"pulled at the switch", iface(upNoCarrier, "noqueue", "LOWERLAYERDOWN"), iface(down, "noqueue", "DOWN"), port("disabled"), true},
		{"pulled, host end not told yet", iface(up, "noqueue", "UP"), iface(down, "noqueue", "DOWN"), port("disabled"), false},
		{"host down", iface(down, "noqueue", "DOWN"), iface(upNoCarrier, "noqueue", "LOWERLAYERDOWN"), port("disabled"), true},
		{"host down, port not told yet", iface(down, "noqueue", "DOWN"), iface(up, "noqueue", "UP"), port("forwarding"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ok, why, err := settled(tc.host, tc.peer, tc.port)
			require.NoError(t, err)
			require.Equal(t, tc.want, ok, why)
		})
	}
	_, _, err := settled([]byte(`[]`), port("x"), port("x"))
	require.Error(t, err)
	_, _, err = settled([]byte(`nope`), port("x"), port("x"))
	require.Error(t, err)
}

func TestLinkLocalState(t *testing.T) {
	addr := func(infos ...string) []byte {
		return []byte(`[{"ifindex":2,"ifname":"eth0","addr_info":[` + strings.Join(infos, ",") + `]}]`)
	}
	const (
		global    = `{"family":"inet6","local":"2001:db8::1","prefixlen":64,"scope":"global","tentative":true}`
		ll        = `{"family":"inet6","local":"fe80::1","prefixlen":64,"scope":"link"}`
		llTent    = `{"family":"inet6","local":"fe80::1","prefixlen":64,"scope":"link","tentative":true}`
		llFailed  = `{"family":"inet6","local":"fe80::1","prefixlen":64,"scope":"link","tentative":true,"dadfailed":true}`
		llUnknown = `{"family":"inet6","local":"not an address","scope":"link"}`
	)
	for _, tc := range []struct {
		name string
		data []byte
		want int
	}{
		{"empty output", []byte(""), llNone},
		{"no addresses", []byte(`[]`), llNone},
		{"only a tentative global", addr(global), llNone},
		{"link-local usable", addr(global, ll), llDone},
		{"link-local tentative", addr(llTent), llTentative},
		{"link-local failed DAD", addr(llFailed), llDone},
		{"garbage address ignored", addr(llUnknown), llNone},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := linkLocalState(tc.data)
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
	_, err := linkLocalState([]byte(`{`))
	require.Error(t, err)
}

func TestLinkFlags(t *testing.T) {
	require.Equal(t, []string{"UP", "LOWER_UP"}, linkFlags([]byte(`[{"flags":["UP","LOWER_UP"]}]`)))
	require.Nil(t, linkFlags([]byte(`[]`)))
	require.Nil(t, linkFlags([]byte(`nope`)))
}

func TestSysctlPath(t *testing.T) {
	for _, tc := range []struct {
		key, want string
	}{
		{"net.ipv4.ip_forward", "/proc/sys/net/ipv4/ip_forward"},
		{"net.ipv6.conf.eth0.accept_dad", "/proc/sys/net/ipv6/conf/eth0/accept_dad"},
		{"net/ipv4/conf/eth0.10/arp_announce", "/proc/sys/net/ipv4/conf/eth0.10/arp_announce"},
		{"kernel.hostname", ""},
		{"net/../kernel/hostname", ""},
		{"../../etc/passwd", ""},
		{"net", ""},
	} {
		got, err := sysctlPath(tc.key)
		if tc.want == "" {
			require.ErrorIs(t, err, ErrName, tc.key)
			continue
		}
		require.NoError(t, err, tc.key)
		require.Equal(t, tc.want, got)
	}
}

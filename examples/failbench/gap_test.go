package main

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func at(ms ...int) []time.Time {
	out := make([]time.Time, len(ms))
	for i, m := range ms {
		out[i] = t0.Add(time.Duration(m) * time.Millisecond)
	}
	return out
}

func answers(ms ...int) []answer {
	var out []answer
	for _, t := range at(ms...) {
		out = append(out, answer{at: t, unit: 1})
	}
	return out
}

func TestLongestGap(t *testing.T) {
	tests := []struct {
		name      string
		at        []time.Time
		from, to  int
		gap       time.Duration
		startedAt int
	}{
		{"none", nil, 0, 100, 100 * time.Millisecond, 0},
		{"steady", at(0, 1, 2, 3, 4, 5), 0, 5, time.Millisecond, 0},
		{"hole in the middle", at(0, 1, 2, 300, 301), 0, 301, 298 * time.Millisecond, 2},
		{"hole at the start", at(50, 51), 0, 51, 50 * time.Millisecond, 0},
		{"hole at the end", at(0, 1), 0, 80, 79 * time.Millisecond, 1},
		{"outside the window ignored", at(-500, 10, 20, 900), 0, 30, 10 * time.Millisecond, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gap, start := longestGap(tt.at, t0.Add(time.Duration(tt.from)*time.Millisecond), t0.Add(time.Duration(tt.to)*time.Millisecond))
			require.Equal(t, tt.gap, gap)
			require.Equal(t, t0.Add(time.Duration(tt.startedAt)*time.Millisecond), start)
		})
	}
}

func TestFailoverGap(t *testing.T) {
	tests := []struct {
		name          string
		before, after []answer
		event, end    int
		want          time.Duration
	}{
		// The last answer came 1 ms before the event; the backup answers
		// from 290 ms on: 289 ms without an answer.
		{"typical", answers(-3, -2, -1), answers(290, 291, 292), 0, 300, 291 * time.Millisecond},
		// Answers recorded in both slices are not counted twice.
		{"overlap", answers(-2, -1, 0), answers(0, 100, 101), 0, 101, 100 * time.Millisecond},
		// No answer before the event at all: the gap starts at the event.
		{"nothing before", nil, answers(40, 41), 0, 41, 40 * time.Millisecond},
		// The backup never answered: the whole window.
		{"no takeover", answers(-1), nil, 0, 1000, 1001 * time.Millisecond},
		// A later, longer hole counts too (the first answers were a fluke).
		{"second hole", answers(-1), answers(10, 11, 500), 0, 501, 489 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := failoverGap(tt.before, tt.after, t0.Add(time.Duration(tt.event)*time.Millisecond), t0.Add(time.Duration(tt.end)*time.Millisecond))
			require.Equal(t, tt.want, got)
		})
	}
}

func TestPercentile(t *testing.T) {
	ds := []time.Duration{5, 1, 4, 2, 3, 10, 9, 8, 7, 6}
	require.Equal(t, time.Duration(5), percentile(ds, 0.5))
	require.Equal(t, time.Duration(10), percentile(ds, 0.99))
	require.Equal(t, time.Duration(1), percentile(ds, 0.01))
	require.Equal(t, time.Duration(0), percentile(nil, 0.5))
	require.Equal(t, []time.Duration{5, 1, 4, 2, 3, 10, 9, 8, 7, 6}, ds, "input unchanged")
}

func TestKeepalivedConf(t *testing.T) {
	a := unitConf{name: "a", id: 1, ifname: "eth0", addr: netip.MustParseAddr("198.18.0.2"), priority: 200}
	b := unitConf{name: "b", id: 2, ifname: "eth0", addr: netip.MustParseAddr("198.18.0.3"), priority: 100}
	vip := netip.MustParsePrefix("198.18.0.100/24")
	for _, tt := range []struct {
		interval time.Duration
		advert   string
	}{
		{time.Second, "advert_int 1\n"},
		{100 * time.Millisecond, "advert_int 0.1\n"},
		{10 * time.Millisecond, "advert_int 0.01\n"},
	} {
		conf, err := keepalivedConf(a, b, vip, tt.interval)
		require.NoError(t, err)
		for _, want := range []string{
			"vrrp_version 3", "state BACKUP", "nopreempt", tt.advert,
			"unicast_src_ip 198.18.0.2\n", "\t\t198.18.0.3\n", "198.18.0.100/24 dev eth0",
		} {
			require.Contains(t, conf, want)
		}
		require.Equal(t, strings.Count(conf, "{"), strings.Count(conf, "}"))
	}
	for _, bad := range []time.Duration{5 * time.Millisecond, 15 * time.Millisecond} {
		_, err := keepalivedConf(a, b, vip, bad)
		require.Error(t, err, "%v", bad)
	}
}

func TestParseIntervals(t *testing.T) {
	ivs, err := parseIntervals("1s, 100ms,10ms")
	require.NoError(t, err)
	require.Equal(t, []time.Duration{time.Second, 100 * time.Millisecond, 10 * time.Millisecond}, ivs)
	for _, bad := range []string{"", "1s,", "0s", "-1s", "fast"} {
		_, err := parseIntervals(bad)
		require.Error(t, err, "%q", bad)
	}
}

func TestBecameActive(t *testing.T) {
	logs := map[string]string{
		"keepalived": "Mon Nov 23 10:58:02 2026: (failbench) Receive advertisement timeout\n" +
			"Mon Nov 23 10:58:02 2026: (failbench) Entering MASTER STATE\n" +
			"Mon Nov 23 10:58:02 2026: (failbench) setting VIPs.\n" +
			"Mon Nov 23 10:58:09 2026: (failbench) Entering BACKUP STATE\n",
		"hakit": `time=2026-11-23T10:59:32.003Z level=INFO msg="member: role change" unit=1 from=initial to=primary cause=election reason="unit 1 selected: priority, 200 > 100"` + "\n" +
			`time=2026-11-23T10:59:32.010Z level=INFO msg="member: takeover complete: 7ms in all, sessions 1ms (7ms in all)"` + "\n" +
			`time=2026-11-23T10:59:32.977Z level=INFO msg="member: role change" unit=1 from=primary to=secondary cause=local_fault reason="failover: unit 2 selected"` + "\n",
	}
	for _, sys := range []system{keepalived{}, hakit{}} {
		n := len(sys.becameActive().FindAllString(logs[sys.name()], -1))
		require.Equal(t, 1, n, sys.name())
	}
}

package main

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestDedupHandler: a line names the unit once, however many parts of the
// library add it again; another unit's ID under the same key stays.
func TestDedupHandler(t *testing.T) {
	var buf bytes.Buffer
	h := slog.NewTextHandler(&buf, &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}})
	log := slog.New(newDedupHandler(h)).With("unit", uint16(1))
	log.With("unit", uint16(1), "part", "garp").Info("one")           // as the election does
	log.Info("two", "cluster", 7, "unit", uint16(1), "priority", 200) // as member and heartbeat do
	log.Warn("three", "unit", uint16(5), "mac", "02:00:00:00:00:05")  // a colliding unit
	log.WithGroup("g").Info("four", "unit", uint16(1))                // inside a group: kept
	log.Info("five", "kind", "a", "kind", "a")                        // repeated in the record
	require.Equal(t, strings.Join([]string{
		`level=INFO msg=one unit=1 part=garp`,
		`level=INFO msg=two unit=1 cluster=7 priority=200`,
		`level=WARN msg=three unit=1 unit=5 mac=02:00:00:00:00:05`,
		`level=INFO msg=four unit=1 g.unit=1`,
		`level=INFO msg=five unit=1 kind=a`,
	}, "\n")+"\n", buf.String())
}

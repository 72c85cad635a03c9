package member

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// FuzzBootEpoch: an epoch file of any content is refused, and left as it
// was, or read as its counter: the epoch is then above the counter and the
// clock, the file holds the epoch plus the reserve, and the next start's
// epoch is above every epoch this one may use.
func FuzzBootEpoch(f *testing.F) {
	f.Add([]byte("12345\n"), int64(1_800_000_000_000_000_000))
	f.Add([]byte("99999999999999999999\n"), int64(0))
	f.Add([]byte(strconv.FormatUint(^uint64(0)-epochReserve-1, 10)), int64(0))
	f.Add([]byte(""), int64(5))
	f.Add([]byte("-1"), int64(-5))
	f.Add([]byte(" 7 \n\n"), int64(3))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, content []byte, ns int64) {
		path := filepath.Join(dir, "epoch")
		if err := os.WriteFile(path, content, 0o600); err != nil {
			t.Fatal(err)
		}
		now := time.Unix(0, ns)
		e, err := BootEpoch(path, now)
		after, rerr := os.ReadFile(path)
		if rerr != nil {
			t.Fatal(rerr)
		}
		if err != nil {
			if !bytes.Equal(after, content) {
				t.Fatalf("%q refused (%v) but replaced by %q", content, err, after)
			}
			return
		}
		stored, perr := strconv.ParseUint(strings.TrimSpace(string(content)), 10, 64)
		switch {
		case perr != nil:
			t.Fatalf("%q taken as a counter (epoch %d)", content, e)
		case e <= stored || e < uint64(max(ns, 0)):
			t.Fatalf("%q at %d: epoch %d", content, ns, e)
		case string(after) != strconv.FormatUint(e+epochReserve, 10)+"\n":
			t.Fatalf("%q: epoch %d, file now %q", content, e, after)
		}
		e2, err := BootEpoch(path, now)
		if err == nil && e2 <= e+epochReserve {
			t.Fatalf("%q: the next start's epoch %d not above %d+%d", content, e2, e, uint64(epochReserve))
		}
	})
}

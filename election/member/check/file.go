package check

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// File returns a probe that reads the file at path: it passes while the
// file holds the integer 0 and fails on any other value, and when the file
// is missing or unreadable, so that another program (or an operator) can
// fail the unit by writing 1 into it, and a check that cannot tell does
// not pass.
func File(path string) func(ctx context.Context) error {
	return func(context.Context) error {
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		s := strings.TrimSpace(string(b))
		v, err := strconv.ParseInt(s, 10, 64)
		switch {
		case err != nil:
			return fmt.Errorf("%s holds %q, not an integer", path, truncate(s, 32))
		case v != 0:
			return fmt.Errorf("%s holds %d", path, v)
		}
		return nil
	}
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

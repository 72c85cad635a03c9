package check

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
)

func findProcess(ctx context.Context, name string) error {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return err
	}
	for _, e := range ents {
		if c := e.Name()[0]; c < '0' || c > '9' {
			continue
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		dir := filepath.Join("/proc", e.Name())
		if comm, err := os.ReadFile(filepath.Join(dir, "comm")); err == nil && string(bytes.TrimSpace(comm)) == name {
			return nil
		}
		if argv, err := os.ReadFile(filepath.Join(dir, "cmdline")); err == nil {
			arg0, _, _ := bytes.Cut(argv, []byte{0})
			if len(arg0) > 0 && filepath.Base(string(arg0)) == name {
				return nil
			}
		}
	}
	return fmt.Errorf("no process %s", name)
}

package main

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// FuzzConfigFile: any -config file is a configuration error or a
// configuration whose rendering (-check-config) reads back as the same
// configuration and renders to the same bytes; nothing panics.
func FuzzConfigFile(f *testing.F) {
	f.Add(sampleFile)
	f.Add("unit-id = 1\niface = [\"eth0\"]\ninsecure-no-auth = true\n")
	f.Add("unit-id = 1\niface = \"eth0\"\ninsecure-no-auth = true\nsync-peer = \"198.18.3.2:7946\"\nmax-sessions = 10\n")
	f.Add("unit-id = 1\niface = [\"eth0\"]\nprioirty = 3\n")
	f.Add("[[check]]\nname = 1\n")
	f.Add("unit-id = 99999999999999999999\n")
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, content string) {
		if strings.Contains(content, "-file") {
			return // key-file and status-token-file read other files: FuzzKeyFile covers those
		}
		path := filepath.Join(dir, "in.toml")
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := parseConfig([]string{"-config", path}, io.Discard)
		if err != nil {
			if !errors.Is(err, errConfig) && !errors.Is(err, errHelp) {
				t.Fatalf("%q: %v is not a configuration error", content, err)
			}
			return
		}
		out := renderConfig(c.Flags, c.Checks)
		back := filepath.Join(dir, "back.toml")
		if err := os.WriteFile(back, []byte(out), 0o600); err != nil {
			t.Fatal(err)
		}
		c2, err := parseConfig([]string{"-config", back}, io.Discard)
		if err != nil {
			t.Fatalf("%q accepted, its rendering %q refused: %v", content, out, err)
		}
		if !reflect.DeepEqual(c.Flags, c2.Flags) || !reflect.DeepEqual(c.Checks, c2.Checks) {
			t.Fatalf("%q: read back as %+v %+v, was %+v %+v", content, c2.Flags, c2.Checks, c.Flags, c.Checks)
		}
		if out2 := renderConfig(c2.Flags, c2.Checks); out2 != out {
			t.Fatalf("%q renders as %q, then as %q", content, out, out2)
		}
	})
}

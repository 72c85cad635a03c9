package main

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParseConfig: any command line is a config or a configuration error
// (or the help), never a panic.
func FuzzParseConfig(f *testing.F) {
	f.Add("-unit-id\x001\x00-iface\x00eth0\x00-insecure-no-auth")
	f.Add("-cluster-id\x007\x00-unit-id\x002\x00-iface\x00eth2\x00-vip\x00eth0=198.18.1.1/24\x00-vmac\x00macvlan\x00-sync-peer\x00198.18.3.2:7946\x00-conntrack\x00-insecure-no-auth\x00-status\x000.0.0.0:1")
	f.Add("-unit-id\x001\x00-iface\x00eth0\x00-sync-iface\x00eth1\x00-sync-peer-mac\x0002:00:00:00:00:01\x00-state-dir\x00/run/x\x00-insecure-no-auth\x00-max-sessions\x00-1")
	f.Add("-h")
	f.Fuzz(func(t *testing.T, line string) {
		var args []string
		for a := range strings.SplitSeq(line, "\x00") {
			if strings.HasPrefix(strings.TrimLeft(a, "-"), "key-file") || strings.HasPrefix(strings.TrimLeft(a, "-"), "status-token-file") {
				return // reads files: FuzzKeyFile covers those
			}
			args = append(args, a)
		}
		c, err := parseConfig(args, io.Discard)
		switch {
		case err == nil:
			// Without a key file, only -insecure-no-auth gets this far,
			// and the unit says so.
			if c == nil || c.UnitID == 0 || len(c.Ifaces) == 0 || c.StateDir == "" || c.Keys != nil || len(c.warnings()) == 0 {
				t.Fatalf("%q: accepted as %+v", args, c)
			}
		case !errors.Is(err, errConfig) && !errors.Is(err, errHelp):
			t.Fatalf("%q: %v is not a configuration error", args, err)
		}
	})
}

// FuzzKeyFile: a key file is accepted only when no one but its owner can
// read it and it holds a key long enough and not all zeros.
func FuzzKeyFile(f *testing.F) {
	f.Add([]byte("0123456789abcdef0123\n"), uint16(0o600))
	f.Add([]byte("0123456789abcdef0123\n"), uint16(0o644))
	f.Add(make([]byte, 16), uint16(0o400))
	f.Add([]byte(" \t\n"), uint16(0o600))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, b []byte, mode uint16) {
		p := filepath.Join(dir, "key")
		os.Remove(p)
		perm := os.FileMode(mode) & 0o777
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, perm); err != nil {
			t.Fatal(err)
		}
		k, err := readKeyFile(p)
		if err != nil {
			if !errors.Is(err, errConfig) {
				t.Fatalf("%v is not a configuration error", err)
			}
			return
		}
		secret := k.Keys()[0].Secret
		if perm&0o077 != 0 || len(secret) < 16 || bytes.Count(secret, []byte{0}) == len(secret) ||
			!bytes.HasPrefix(bytes.TrimSpace(b), []byte("key ")) && !bytes.Equal(secret, bytes.TrimSpace(b)) {
			t.Fatalf("mode %04o, %q accepted as %q", perm, b, secret)
		}
	})
}

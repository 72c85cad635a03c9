package vmac

import (
	"bytes"
	"os"
	"testing"
)

// FuzzMACRecord: a MAC record of any content is no record, or a 6-byte
// unicast MAC that, recorded again, reads back the same.
func FuzzMACRecord(f *testing.F) {
	f.Add([]byte("02:00:5e:00:01:07\n"))
	f.Add([]byte("01:00:5e:00:00:01"))
	f.Add([]byte("00:00:00:00:00:00"))
	f.Add([]byte("0200.5e00.0107"))
	f.Add([]byte("02:00:5e:00:01:07:08:09"))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, b []byte) {
		path := recordFile(dir, "eth0")
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		mac, ok, err := readRecord(path)
		if err != nil {
			t.Fatalf("%q: %v", b, err)
		}
		if !ok {
			return
		}
		if len(mac) != 6 || checkUnicastMAC(mac) != nil {
			t.Fatalf("%q taken as %v", b, mac)
		}
		if err := writeRecord(path, mac); err != nil {
			t.Fatal(err)
		}
		back, ok, err := readRecord(path)
		if err != nil || !ok || !bytes.Equal(back, mac) {
			t.Fatalf("%v recorded reads back as %v, %v, %v", mac, back, ok, err)
		}
	})
}

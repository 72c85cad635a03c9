// Package conntrackdconf writes the conntrackd configuration the benchmark
// programs compare hakit with: FT-FW over UDP between two units, TCP and UDP
// only, an internal cache for the local table and an external one for the
// peer's.
package conntrackdconf

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
)

// Config is one unit's conntrackd configuration.
type Config struct {
	// Self and Peer are the sync link's addresses of this unit and of the
	// peer (IPv4).
	Self, Peer netip.Addr
	// Interface is the sync link's interface.
	Interface string
	// Dir holds the log file, the lock file and the control socket, named
	// Name.log, Name.lock and Name.ctl.
	Dir, Name string
	// HashSize and HashLimit size conntrackd's caches.
	HashSize, HashLimit int
	// Ignore lists the addresses whose flows conntrackd leaves out (the
	// units' own).
	Ignore []netip.Addr
}

// Sized returns HashSize and HashLimit fit for a table of n entries: the
// next power of two, and four times n.
func Sized(n int) (hashSize, hashLimit int) {
	hashSize = 1
	for hashSize < n {
		hashSize <<= 1
	}
	return hashSize, 4 * n
}

// Control returns the path of the control socket.
func (c *Config) Control() string { return filepath.Join(c.Dir, c.Name+".ctl") }

// Lock returns the path of the lock file.
func (c *Config) Lock() string { return filepath.Join(c.Dir, c.Name+".lock") }

// Log returns the path of the log file.
func (c *Config) Log() string { return filepath.Join(c.Dir, c.Name+".log") }

// String returns the configuration file's text.
func (c *Config) String() string {
	var ignore strings.Builder
	if len(c.Ignore) > 0 {
		ignore.WriteString("\t\tAddress Ignore {\n")
		for _, a := range c.Ignore {
			fmt.Fprintf(&ignore, "\t\t\tIPv4_address %s\n", a)
		}
		ignore.WriteString("\t\t}\n")
	}
	return fmt.Sprintf(`Sync {
	Mode FTFW {
	}
	UDP {
		IPv4_address %s
		IPv4_Destination_Address %s
		Port 3780
		Interface %s
		SndSocketBuffer 24985600
		RcvSocketBuffer 24985600
		Checksum on
	}
}
General {
	HashSize %d
	HashLimit %d
	LogFile %s
	Syslog off
	LockFile %s
	UNIX {
		Path %s
	}
	NetlinkBufferSize 2097152
	NetlinkBufferSizeMaxGrowth 268435456
	Filter From Userspace {
		Protocol Accept {
			TCP
			UDP
		}
%s	}
}
`, c.Self, c.Peer, c.Interface, c.HashSize, c.HashLimit, c.Log(), c.Lock(), c.Control(), ignore.String())
}

// Write writes the configuration to path.
func (c *Config) Write(path string) error {
	return os.WriteFile(path, []byte(c.String()), 0o600)
}

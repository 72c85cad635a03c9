package main

import (
	"bytes"
	"crypto/subtle"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hakit/hakit"
	"github.com/hakit/hakit/statesync"
	"github.com/hakit/hakit/statesync/conntrack"
)

// Flag names whose words say what they give up.
const (
	flagInsecureNoAuth = "insecure-no-auth"
	flagStatusRemote   = "status-insecure-remote"
)

// insecureWarning is logged at every start without a key, and shown in the
// status.
const insecureWarning = "heartbeats and session sync are NOT authenticated (-" + flagInsecureNoAuth +
	"): anyone on these segments can force a failover, demote the primary or inject sessions; give -key-file"

// readSecret reads a secret file for flag: it must be a regular file
// readable by its owner only (mode 0600 or 0400), and hold at least
// hakit.MinKeyLen bytes once surrounding white space is trimmed.
func readSecret(flag, path string) ([]byte, error) {
	bad := func(format string, a ...any) ([]byte, error) {
		return nil, fmt.Errorf("%w: -%s %s: %s", errConfig, flag, path, fmt.Sprintf(format, a...))
	}
	f, err := os.Open(path)
	if err != nil {
		return bad("%v", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return bad("%v", err)
	}
	if !fi.Mode().IsRegular() {
		return bad("not a regular file")
	}
	if m := fi.Mode().Perm(); m&0o077 != 0 {
		return bad("mode %04o lets group or others read it; chmod 600 it", m)
	}
	b := make([]byte, 0, 64)
	buf := bytes.NewBuffer(b)
	if _, err := buf.ReadFrom(f); err != nil {
		return bad("%v", err)
	}
	secret := bytes.TrimSpace(buf.Bytes())
	if len(secret) < hakit.MinKeyLen {
		return bad("key is %d bytes, at least %d needed", len(secret), hakit.MinKeyLen)
	}
	return secret, nil
}

// readKeyFile reads the cluster's shared keys from path: one secret (key
// ID 1), or lines "key ID SECRET", the first sealing and every one
// verifying (see hakit.Keyring for the rotation). A key of zero bytes only
// is refused, as a file that was never filled in.
func readKeyFile(path string) (*hakit.Keyring, error) {
	keys, err := readKeys(path)
	if err != nil {
		return nil, err
	}
	k, err := hakit.NewKeyring(keys[0], keys[1:]...)
	if err != nil {
		return nil, fmt.Errorf("%w: -key-file %s: %w", errConfig, path, err)
	}
	return k, nil
}

func readKeys(path string) ([]hakit.Key, error) {
	secret, err := readSecret("key-file", path)
	if err != nil {
		return nil, err
	}
	if !bytes.HasPrefix(secret, []byte("key ")) {
		return []hakit.Key{{ID: 1, Secret: secret}}, nil
	}
	var keys []hakit.Key
	for i, line := range bytes.Split(secret, []byte("\n")) {
		f := strings.SplitN(strings.TrimSpace(string(line)), " ", 3)
		if f[0] == "" {
			continue
		}
		id, err := strconv.ParseUint(f[1%len(f)], 10, 8)
		if len(f) != 3 || f[0] != "key" || err != nil || id == 0 {
			return nil, fmt.Errorf("%w: -key-file %s: line %d: want \"key ID SECRET\" with ID 1-255", errConfig, path, i+1)
		}
		keys = append(keys, hakit.Key{ID: uint8(id), Secret: []byte(f[2])})
	}
	return keys, nil
}

// checkAuth is the rule for the key flags: a key, or an explicit choice to
// run without one, never both.
func checkAuth(keyFile string, insecure bool) error {
	switch {
	case keyFile == "" && !insecure:
		return fmt.Errorf("%w: no -key-file: heartbeats and session sync need a shared key; "+
			"-%s runs without one, open to forgery by anyone on the segment", errConfig, flagInsecureNoAuth)
	case keyFile != "" && insecure:
		return fmt.Errorf("%w: -key-file and -%s are exclusive", errConfig, flagInsecureNoAuth)
	}
	return nil
}

// checkStatusAddr refuses a status address other than loopback unless the
// status is protected by a token or its exposure is asked for by name.
func checkStatusAddr(addr string, token []byte, remote bool) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%w: -status %q: %v", errConfig, addr, err)
	}
	if host == "localhost" {
		return nil
	}
	if a, err := netip.ParseAddr(host); err == nil && a.IsLoopback() {
		return nil
	}
	if token == nil && !remote {
		return fmt.Errorf("%w: -status %s is not a loopback address: the status shows peers, reasons and counters "+
			"to anyone who reaches it; give -status-token-file, or -%s to serve it to all", errConfig, addr, flagStatusRemote)
	}
	return nil
}

// warnings are the status's warnings: what this unit's configuration gives
// up.
func (c *config) warnings() []string {
	if c.Keys == nil {
		return []string{insecureWarning}
	}
	return nil
}

// warnInsecure logs every warning; the daemon calls it at every start.
func (d *daemon) warnInsecure() {
	for _, w := range d.cfg.warnings() {
		d.log.Warn(w)
	}
}

// Status server limits: a client that is slow or sends too much is cut off
// rather than holding a connection.
const (
	statusReadTimeout  = 5 * time.Second
	statusWriteTimeout = 5 * time.Second
	statusIdleTimeout  = 30 * time.Second
	statusMaxHeader    = 8 << 10
)

// statusServer returns the status server: GET or HEAD of / or /status
// only, with the token when one is configured, every timeout set.
func (d *daemon) statusServer() *http.Server {
	return &http.Server{
		Handler:           statusGuard(d.cfg.StatusToken, d.handler()),
		ReadHeaderTimeout: statusReadTimeout,
		ReadTimeout:       statusReadTimeout,
		WriteTimeout:      statusWriteTimeout,
		IdleTimeout:       statusIdleTimeout,
		MaxHeaderBytes:    statusMaxHeader,
	}
}

// statusGuard serves next for the known paths and methods, and only to a
// request with the bearer token when token is not nil.
func statusGuard(token []byte, next http.Handler) http.Handler {
	want := []byte("Bearer " + string(token))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if token != nil && subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="hanode"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		switch r.URL.Path {
		case "/", "/status", "/metrics":
		case "/events": // a stream: no write deadline
			_ = http.NewResponseController(w).SetWriteDeadline(time.Time{})
		default:
			http.NotFound(w, r)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// securityFlags are the command line's key and status-exposure flags.
type securityFlags struct {
	keyFile, tokenFile string
	insecure, remote   bool
	keepMarks          bool
	maxSessions        int
}

func addSecurityFlags(fs *flag.FlagSet) *securityFlags {
	s := &securityFlags{}
	fs.StringVar(&s.keyFile, "key-file", "", "file holding the shared key (at least 16 bytes, mode 0600) authenticating heartbeats and sync (required unless -"+flagInsecureNoAuth+")")
	fs.BoolVar(&s.insecure, flagInsecureNoAuth, false, "run heartbeats and session sync without authentication: anyone on the segments can force a failover or inject sessions")
	fs.StringVar(&s.tokenFile, "status-token-file", "", "file holding a token (mode 0600) the status server requires as \"Authorization: Bearer TOKEN\"")
	fs.BoolVar(&s.remote, flagStatusRemote, false, "let -status listen on a non-loopback address without a token")
	fs.IntVar(&s.maxSessions, "max-sessions", statesync.DefaultMaxSessions, "the most sessions the replicated table holds (beyond it new ones are dropped, counted, and the standby reports itself out of sync); -1: no limit")
	fs.BoolVar(&s.keepMarks, "conntrack-keep-marks", false, "inject the replicated sessions' connection marks too (by default they are cleared, so that the peer cannot steer this unit's mark rules)")
	return s
}

// apply checks the flags and sets c's keys and status token; c.Status must
// be set.
func (s *securityFlags) apply(c *config) error {
	c.KeepMarks, c.MaxSessions = s.keepMarks, s.maxSessions
	if s.maxSessions == 0 || s.maxSessions < -1 {
		return fmt.Errorf("%w: -max-sessions %d: at least 1, or -1 for no limit", errConfig, s.maxSessions)
	}
	var err error
	if s.tokenFile != "" {
		if c.Status == "" {
			return fmt.Errorf("%w: -status-token-file needs -status", errConfig)
		}
		if c.StatusToken, err = readSecret("status-token-file", s.tokenFile); err != nil {
			return err
		}
	}
	if c.Status != "" {
		if err := checkStatusAddr(c.Status, c.StatusToken, s.remote); err != nil {
			return err
		}
	}
	if err := checkAuth(s.keyFile, s.insecure); err != nil {
		return err
	}
	if s.keyFile != "" {
		c.KeyFile = s.keyFile
		c.Keys, err = readKeyFile(s.keyFile)
	}
	return err
}

// sessionGuard is what the standby checks of each replicated session
// before it goes into the kernel: none to or from this unit's own
// addresses (d.local, read at each check), timeouts capped at the
// kernel's, marks cleared unless -conntrack-keep-marks.
func (d *daemon) sessionGuard() *conntrack.Guard {
	return &conntrack.Guard{
		Local:     func(a netip.Addr) bool { return slices.Contains(d.local, a) },
		KeepMarks: d.cfg.KeepMarks,
	}
}

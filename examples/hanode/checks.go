package main

import (
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/hakit/hakit/election/member"
	"github.com/hakit/hakit/election/member/check"
	"github.com/hakit/hakit/heartbeat"
)

// checkConfig is one [[check]] table of the configuration file: a name,
// exactly one probe (script, file, process, link, or neighbour with its
// interface), and the damping and weight.
type checkConfig struct {
	Name string `toml:"name"`
	// Script is the program and its arguments: a list, or one string split
	// at spaces (no shell).
	Script argv `toml:"script,omitempty"`
	// File passes while the file holds 0.
	File string `toml:"file,omitempty"`
	// Process passes while a process of that name runs.
	Process string `toml:"process,omitempty"`
	// Link passes while the interface is up with carrier.
	Link string `toml:"link,omitempty"`
	// Neighbour passes while this address answers ARP (IPv4) or neighbour
	// solicitations (IPv6) on Interface: the upstream gateway.
	Neighbour string `toml:"neighbour,omitempty"`
	Interface string `toml:"interface,omitempty"`
	// Interval, Timeout, Rise, Fall and Weight as in member.Check; weight
	// 0 (or absent) makes a failing check a fault.
	Interval duration `toml:"interval,omitempty"`
	Timeout  duration `toml:"timeout,omitempty"`
	Rise     int      `toml:"rise,omitempty"`
	Fall     int      `toml:"fall,omitempty"`
	Weight   int      `toml:"weight,omitempty"`
}

// argv is a command line: a TOML list, or a string split at spaces.
type argv []string

// UnmarshalTOML decodes a list of strings or one string.
func (a *argv) UnmarshalTOML(v any) error {
	switch x := v.(type) {
	case string:
		*a = strings.Fields(x)
		return nil
	case []any:
		*a = nil
		for _, e := range x {
			s, ok := e.(string)
			if !ok {
				return fmt.Errorf("script: want strings, got %T", e)
			}
			*a = append(*a, s)
		}
		return nil
	}
	return fmt.Errorf("script: want a string or a list of strings, got %T", v)
}

// duration is a time.Duration written as "1s", "300ms".
type duration time.Duration

// UnmarshalText parses a Go duration.
func (d *duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	*d = duration(v)
	return err
}

// MarshalText writes the duration as Go does.
func (d duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// validateChecks reports the first invalid check.
func validateChecks(cs []checkConfig) error {
	seen := map[string]bool{}
	for i, c := range cs {
		bad := func(format string, a ...any) error {
			return fmt.Errorf("%w: check %d (%q): %s", errConfig, i+1, c.Name, fmt.Sprintf(format, a...))
		}
		probes := 0
		for _, set := range []bool{len(c.Script) > 0, c.File != "", c.Process != "", c.Link != "", c.Neighbour != ""} {
			if set {
				probes++
			}
		}
		switch {
		case c.Name == "":
			return bad("no name")
		case seen[c.Name]:
			return bad("name given twice")
		case probes != 1:
			return bad("want exactly one of script, file, process, link, neighbour")
		case c.Interval < 0 || c.Timeout < 0 || c.Rise < 0 || c.Fall < 0:
			return bad("negative interval, timeout, rise or fall")
		case c.Weight < 0 || c.Weight > 253:
			return bad("weight %d: out of range 0-253", c.Weight)
		case c.Neighbour == "" && c.Interface != "":
			return bad("interface is for a neighbour check")
		}
		if c.Neighbour != "" {
			a, err := netip.ParseAddr(c.Neighbour)
			if err != nil || a.Zone() != "" || a.IsUnspecified() || a.IsMulticast() {
				return bad("neighbour %q: not a unicast address", c.Neighbour)
			}
			if c.Interface == "" {
				return bad("a neighbour check needs its interface")
			}
		}
		seen[c.Name] = true
	}
	return nil
}

// memberChecks builds the member's checks from the configuration. A
// neighbour check opens a prober on its interface; the returned closers
// release them (once the checks are replaced or the unit is closed).
func memberChecks(cs []checkConfig) (_ []member.Check, closers []io.Closer, err error) {
	defer func() {
		if err != nil {
			closeAll(closers)
			closers = nil
		}
	}()
	var out []member.Check
	for _, c := range cs {
		mc := member.Check{Name: c.Name, Interval: time.Duration(c.Interval), Timeout: time.Duration(c.Timeout),
			Rise: c.Rise, Fall: c.Fall, Weight: uint8(c.Weight)}
		switch {
		case len(c.Script) > 0:
			mc.Probe = check.Script(c.Script[0], c.Script[1:]...)
		case c.File != "":
			mc.Probe = check.File(c.File)
		case c.Process != "":
			mc.Probe = check.Process(c.Process)
		case c.Link != "":
			mc.Probe = check.Interface(c.Link)
		case c.Neighbour != "":
			ifi, err := net.InterfaceByName(c.Interface)
			if err != nil {
				return nil, closers, fmt.Errorf("%w: check %q: interface %s: %w", errConfig, c.Name, c.Interface, err)
			}
			p, err := heartbeat.NewProber(ifi)
			if err != nil {
				return nil, closers, fmt.Errorf("check %q: %w", c.Name, err)
			}
			n, err := check.NewNeighbour(p, netip.MustParseAddr(c.Neighbour)) // validated
			if err != nil {
				return nil, closers, fmt.Errorf("check %q: %w", c.Name, err)
			}
			closers = append(closers, n)
			mc.Probe = n.Probe
		}
		out = append(out, mc)
	}
	return out, closers, nil
}

func closeAll(cs []io.Closer) {
	for _, c := range cs {
		c.Close()
	}
}

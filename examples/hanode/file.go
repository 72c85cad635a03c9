package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// The configuration file is TOML: its keys are the flags' names
// (cluster-id = 7, iface = ["eth0", "eth1"], preempt = true,
// interval = "100ms"), and its [[check]] tables are the health checks,
// which have no flags. A flag given on the command line overrides the
// file's key (a list flag replaces the file's whole list). TOML rather
// than YAML: no indentation to get wrong, no "no" that means false, and a
// small parser with no dependencies of its own.

// fileFlags are the flags that name configuration files, never keys in one.
var fileFlags = []string{"config", "check-config"}

// applyFile sets every flag of fs that the command line left unset from
// the file at path, and returns the file's checks. Unknown keys, keys of
// the wrong type and bad values are errors.
func applyFile(fs *flag.FlagSet, path string) ([]checkConfig, error) {
	bad := func(format string, a ...any) ([]checkConfig, error) {
		return nil, fmt.Errorf("%w: %s: %s", errConfig, path, fmt.Sprintf(format, a...))
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errConfig, err)
	}
	var keys map[string]toml.Primitive
	md, err := toml.Decode(string(b), &keys)
	if err != nil {
		return bad("%v", err)
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var checks []checkConfig
	names := make([]string, 0, len(keys))
	for k := range keys {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		if k == "check" {
			if err := md.PrimitiveDecode(keys[k], &checks); err != nil {
				return bad("[[check]]: %v", err)
			}
			continue
		}
		f := fs.Lookup(k)
		if f == nil || slices.Contains(fileFlags, k) {
			return bad("unknown key %q", k)
		}
		var v any
		if err := md.PrimitiveDecode(keys[k], &v); err != nil {
			return bad("%s: %v", k, err)
		}
		if set[k] {
			continue // the command line wins
		}
		if err := setFlag(f, v); err != nil {
			return bad("%s: %v", k, err)
		}
	}
	if un := md.Undecoded(); len(un) > 0 {
		return bad("unknown key %q", un[0].String())
	}
	return checks, nil
}

// setFlag sets f from a TOML value: a list flag from an array of strings
// (or one string), a bool flag from a bool, any other from a string or an
// integer.
func setFlag(f *flag.Flag, v any) error {
	_, list := f.Value.(*listFlag)
	bf, isBool := f.Value.(interface{ IsBoolFlag() bool })
	isBool = isBool && bf.IsBoolFlag()
	var vals []string
	switch x := v.(type) {
	case []any:
		if !list {
			return fmt.Errorf("not a list")
		}
		for _, e := range x {
			s, ok := e.(string)
			if !ok {
				return fmt.Errorf("want a list of strings")
			}
			vals = append(vals, s)
		}
	case bool:
		if !isBool {
			return fmt.Errorf("want a %s", kind(f))
		}
		vals = []string{strconv.FormatBool(x)}
	case string:
		if isBool {
			return fmt.Errorf("want true or false")
		}
		vals = []string{x}
	case int64:
		if isBool || list {
			return fmt.Errorf("want a %s", kind(f))
		}
		vals = []string{strconv.FormatInt(x, 10)}
	default:
		return fmt.Errorf("want a %s", kind(f))
	}
	for _, s := range vals {
		if err := f.Value.Set(s); err != nil {
			if g, ok := f.Value.(flag.Getter); ok {
				if _, ok := g.Get().(time.Duration); ok {
					return fmt.Errorf("invalid value %q: want a duration such as \"100ms\"", s)
				}
			}
			return fmt.Errorf("invalid value %q: %v", s, err)
		}
	}
	return nil
}

func kind(f *flag.Flag) string {
	if _, ok := f.Value.(*listFlag); ok {
		return "list of strings"
	}
	if bf, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && bf.IsBoolFlag() {
		return "bool"
	}
	return "string or number"
}

// effective returns the value of every flag of fs after the file and the
// command line (the configuration files' flags aside), as TOML values.
func effective(fs *flag.FlagSet) map[string]any {
	m := map[string]any{}
	fs.VisitAll(func(f *flag.Flag) {
		if slices.Contains(fileFlags, f.Name) {
			return
		}
		switch v := f.Value.(type) {
		case *listFlag:
			m[f.Name] = append([]string{}, *v...)
			return
		case flag.Getter:
			switch g := v.Get().(type) {
			case bool:
				m[f.Name] = g
				return
			case int, uint, int64, uint64:
				n, _ := strconv.ParseInt(v.String(), 10, 64)
				m[f.Name] = n
				return
			}
		}
		m[f.Name] = f.Value.String()
	})
	return m
}

// renderConfig returns the effective configuration as a TOML file that
// hanode -config reads back.
func renderConfig(flags map[string]any, checks []checkConfig) string {
	var b bytes.Buffer
	b.WriteString("# hanode: the effective configuration\n")
	enc := toml.NewEncoder(&b)
	enc.Indent = ""
	_ = enc.Encode(flags) // maps of plain values always encode
	if len(checks) > 0 {
		_ = enc.Encode(map[string]any{"check": checks})
	}
	return strings.TrimRight(b.String(), "\n") + "\n"
}

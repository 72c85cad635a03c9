package main

import (
	"context"
	"log/slog"
)

// dedupHandler passes records to h without the attributes that repeat one
// the logger already carries, key and value alike: hanode's logger names
// the unit, and the library's parts, made to be used alone, name it again
// ("unit=1 … unit=1"). An attribute under a known key with another value
// (a colliding cluster's unit) is kept. Inside a group nothing is
// dropped.
type dedupHandler struct {
	h       slog.Handler
	have    map[string]slog.Value // top-level attributes added with WithAttrs
	grouped bool
}

func newDedupHandler(h slog.Handler) slog.Handler { return dedupHandler{h: h} }

func (d dedupHandler) Enabled(ctx context.Context, l slog.Level) bool { return d.h.Enabled(ctx, l) }

// dup reports whether a repeats an attribute of the logger or one in seen.
func (d dedupHandler) dup(a slog.Attr, seen []slog.Attr) bool {
	if v, ok := d.have[a.Key]; ok && v.Equal(a.Value) {
		return true
	}
	for _, s := range seen {
		if s.Key == a.Key && s.Value.Equal(a.Value) {
			return true
		}
	}
	return false
}

func (d dedupHandler) WithAttrs(as []slog.Attr) slog.Handler {
	if d.grouped {
		return dedupHandler{h: d.h.WithAttrs(as), have: d.have, grouped: true}
	}
	have := make(map[string]slog.Value, len(d.have)+len(as))
	for k, v := range d.have {
		have[k] = v
	}
	var keep []slog.Attr
	for _, a := range as {
		if d.dup(a, keep) {
			continue
		}
		keep = append(keep, a)
		if _, ok := have[a.Key]; !ok {
			have[a.Key] = a.Value
		}
	}
	return dedupHandler{h: d.h.WithAttrs(keep), have: have}
}

func (d dedupHandler) WithGroup(name string) slog.Handler {
	return dedupHandler{h: d.h.WithGroup(name), have: d.have, grouped: true}
}

func (d dedupHandler) Handle(ctx context.Context, r slog.Record) error {
	if d.grouped {
		return d.h.Handle(ctx, r)
	}
	var seen []slog.Attr
	dups := false
	r.Attrs(func(a slog.Attr) bool {
		if d.dup(a, seen) {
			dups = true
			return false
		}
		seen = append(seen, a)
		return true
	})
	if !dups {
		return d.h.Handle(ctx, r)
	}
	nr := slog.NewRecord(r.Time, r.Level, r.Message, r.PC)
	seen = seen[:0]
	r.Attrs(func(a slog.Attr) bool {
		if !d.dup(a, seen) {
			seen = append(seen, a)
			nr.AddAttrs(a)
		}
		return true
	})
	return d.h.Handle(ctx, nr)
}

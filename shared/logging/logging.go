// Package logging builds the structured JSON logger every function uses, with
// redaction of secrets and per-request attributes carried by the context.
//
// Secrets are redacted by the key they are logged under, or a group they
// are in (see [Sensitive]), and by their text (credentials such as
// "Bearer ..."), at any depth of groups and [slog.LogValuer]s. Types that
// hold secrets are LogValuers that log none. Structs, maps, pointers and
// slices other than of strings, numbers and booleans are not written, only
// their type's name: their fields could hold anything, so log the fields
// that matter as attributes, or give the type a LogValue method. Values
// that marshal themselves (json.Marshaler, encoding.TextMarshaler) and
// errors are written as slog writes them.
//
// Attributes attached to a context with [WithAttrs] appear at the top
// level of every line logged with that context, whatever groups the logger
// has opened.
package logging

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
)

// Redacted replaces the value of every secret in a log line.
const Redacted = "[REDACTED]"

// New returns a logger writing one JSON object per line to w, at level and
// above, with secrets redacted and the context's attributes added.
// A nil level means [slog.LevelInfo].
func New(w io.Writer, level slog.Leveler) *slog.Logger {
	if level == nil {
		level = slog.LevelInfo
	}
	inner := slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level, ReplaceAttr: replaceAttr})
	return slog.New(&handler{inner: inner})
}

// Discard returns a logger that drops every record without formatting it.
func Discard() *slog.Logger {
	return slog.New(slog.DiscardHandler)
}

// ParseLevel parses "debug", "info", "warn" or "error", in any case.
// Anything else is an error naming the accepted values.
func ParseLevel(s string) (slog.Level, error) {
	switch strings.ToLower(s) {
	case "debug":
		return slog.LevelDebug, nil
	case "info":
		return slog.LevelInfo, nil
	case "warn":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("log level %q: want debug, info, warn or error", s)
}

// handler adds the context's attributes before handing records to inner,
// which redacts.
//
// Groups are not passed to inner: they are kept in frames and applied to the
// record's own attributes at Handle time, so that context attributes, bound
// to inner, are still written at the top level.
type handler struct {
	inner  slog.Handler // attributes bound before the first group are already in it
	frames []frame
}

// frame is a group opened with WithGroup and the attributes bound inside it.
type frame struct {
	name  string
	attrs []slog.Attr
}

func (h *handler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.inner.Enabled(ctx, level)
}

func (h *handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	if len(attrs) == 0 {
		return h
	}
	if len(h.frames) == 0 {
		return &handler{inner: h.inner.WithAttrs(attrs)}
	}
	frames := make([]frame, len(h.frames))
	copy(frames, h.frames)
	last := &frames[len(frames)-1]
	last.attrs = append(last.attrs[:len(last.attrs):len(last.attrs)], attrs...)
	return &handler{inner: h.inner, frames: frames}
}

func (h *handler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	frames := make([]frame, len(h.frames), len(h.frames)+1)
	copy(frames, h.frames)
	return &handler{inner: h.inner, frames: append(frames, frame{name: name})}
}

func (h *handler) Handle(ctx context.Context, r slog.Record) error {
	inner := h.inner
	if c := carriedBy(ctx); c != nil {
		inner = c.bind(inner)
	}
	if len(h.frames) == 0 {
		return inner.Handle(ctx, r)
	}
	var buf [8]slog.Attr
	attrs := buf[:0]
	r.Attrs(func(a slog.Attr) bool {
		attrs = append(attrs, a)
		return true
	})
	out := slog.NewRecord(r.Time, r.Level, r.Message, r.PC)
	out.AddAttrs(h.nest(attrs))
	return inner.Handle(ctx, out)
}

// nest puts a record's attributes inside the handler's groups, together with
// the attributes bound in each group.
func (h *handler) nest(attrs []slog.Attr) slog.Attr {
	var group slog.Attr
	for i := len(h.frames) - 1; i >= 0; i-- {
		f := h.frames[i]
		members := make([]slog.Attr, 0, len(f.attrs)+len(attrs))
		members = append(members, f.attrs...)
		members = append(members, attrs...)
		group = slog.Attr{Key: f.name, Value: slog.GroupValue(members...)}
		attrs = []slog.Attr{group}
	}
	return group
}

// Package logging makes the processes' slog handlers: text for people, and
// JSON in the shape Google Cloud Logging reads from a container's output
// (structured logging): the level as `severity`, the text as `message`, the
// time as `time`, and — when the record's context carries an OpenTelemetry
// span — the trace correlation fields, so Logs Explorer shows a request's
// lines under its trace in Cloud Trace:
//
//	{"time":"…","severity":"INFO","message":"request","route":"/webhooks/wochit",…,
//	 "logging.googleapis.com/trace":"projects/my-project/traces/4bf92f3577b34da6a3ce929d0e0e4736",
//	 "logging.googleapis.com/spanId":"00f067aa0ba902b7","logging.googleapis.com/trace_sampled":true}
//
// Only records logged with a context (slog's *Context methods, LogAttrs)
// can carry a trace.
package logging

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"go.opentelemetry.io/otel/trace"
)

// Formats a Handler can write.
const (
	FormatText = "text"
	FormatJSON = "json"
)

// Cloud Logging's special fields of a structured log line.
const (
	KeySeverity     = "severity"
	KeyMessage      = "message"
	KeyTrace        = "logging.googleapis.com/trace"
	KeySpanID       = "logging.googleapis.com/spanId"
	KeyTraceSampled = "logging.googleapis.com/trace_sampled"
)

// Options configure a Handler.
type Options struct {
	Level slog.Leveler
	// Format is FormatText or FormatJSON.
	Format string
	// ProjectID is the Google Cloud project of the traces
	// (projects/<ProjectID>/traces/<trace id>). Empty: the trace field holds
	// the bare trace id, which Cloud Logging keeps but cannot link.
	ProjectID string
}

// NewHandler returns a handler writing to w in opts.Format.
func NewHandler(w io.Writer, opts Options) (slog.Handler, error) {
	switch opts.Format {
	case FormatText, "":
		return slog.NewTextHandler(w, &slog.HandlerOptions{Level: opts.Level}), nil
	case FormatJSON:
		base := slog.NewJSONHandler(w, &slog.HandlerOptions{Level: opts.Level, ReplaceAttr: cloudKeys})
		return &cloudHandler{base: base, plain: base, project: opts.ProjectID}, nil
	}
	return nil, fmt.Errorf("log format %q: want %s or %s", opts.Format, FormatText, FormatJSON)
}

// Severity is Cloud Logging's name for a slog level: DEBUG, INFO, WARNING,
// ERROR (levels between two named ones round down).
func Severity(l slog.Level) string {
	switch {
	case l < slog.LevelInfo:
		return "DEBUG"
	case l < slog.LevelWarn:
		return "INFO"
	case l < slog.LevelError:
		return "WARNING"
	}
	return "ERROR"
}

// cloudKeys renames slog's built-in keys to Cloud Logging's.
func cloudKeys(groups []string, a slog.Attr) slog.Attr {
	if len(groups) > 0 {
		return a
	}
	switch a.Key {
	case slog.LevelKey:
		if l, ok := a.Value.Any().(slog.Level); ok {
			return slog.String(KeySeverity, Severity(l))
		}
		return slog.Attr{Key: KeySeverity, Value: a.Value}
	case slog.MessageKey:
		return slog.Attr{Key: KeyMessage, Value: a.Value}
	}
	return a
}

// cloudHandler adds the trace fields at the top level of the line, whatever
// groups the logger opened: base has no attributes or groups, ops replays
// the logger's WithAttrs/WithGroup calls after them, and plain is base with
// ops applied (used for records without a span).
type cloudHandler struct {
	base    slog.Handler
	plain   slog.Handler
	ops     []func(slog.Handler) slog.Handler
	project string
}

func (h *cloudHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.base.Enabled(ctx, l)
}

func (h *cloudHandler) Handle(ctx context.Context, r slog.Record) error {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsValid() {
		return h.plain.Handle(ctx, r)
	}
	traceField := sc.TraceID().String()
	if h.project != "" {
		traceField = "projects/" + h.project + "/traces/" + traceField
	}
	next := h.base.WithAttrs([]slog.Attr{
		slog.String(KeyTrace, traceField),
		slog.String(KeySpanID, sc.SpanID().String()),
		slog.Bool(KeyTraceSampled, sc.IsSampled()),
	})
	for _, op := range h.ops {
		next = op(next)
	}
	return next.Handle(ctx, r)
}

func (h *cloudHandler) with(op func(slog.Handler) slog.Handler) *cloudHandler {
	return &cloudHandler{
		base:    h.base,
		plain:   op(h.plain),
		ops:     append(h.ops[:len(h.ops):len(h.ops)], op),
		project: h.project,
	}
}

func (h *cloudHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	if len(attrs) == 0 {
		return h
	}
	return h.with(func(next slog.Handler) slog.Handler { return next.WithAttrs(attrs) })
}

func (h *cloudHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	return h.with(func(next slog.Handler) slog.Handler { return next.WithGroup(name) })
}

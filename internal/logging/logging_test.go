package logging_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/wochit-ingest/wochit-ingest/internal/logging"
)

func lines(t *testing.T, buf *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("not JSON: %q: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

func span(t *testing.T, sampler sdktrace.Sampler) (context.Context, trace.SpanContext) {
	t.Helper()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sampler))
	t.Cleanup(func() { tp.Shutdown(context.Background()) })
	ctx, s := tp.Tracer("test").Start(context.Background(), "op")
	t.Cleanup(func() { s.End() })
	return ctx, s.SpanContext()
}

// The JSON format is Cloud Logging's: severity, message, and the trace of
// the record's span at the top level of the line, even from a logger with
// attributes and a group. Mutations: drop the ReplaceAttr (cloudKeys) — the
// line has "level"/"msg" and no severity; drop the span lookup in Handle —
// no trace field; apply the trace attributes after the logger's ops — the
// trace lands inside group "g".
func TestJSONIsWhatCloudLoggingReads(t *testing.T) {
	var buf bytes.Buffer
	h, err := logging.NewHandler(&buf, logging.Options{Format: logging.FormatJSON, Level: slog.LevelDebug, ProjectID: "my-project"})
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(h).With("component", "ingress").WithGroup("g")
	ctx, sc := span(t, sdktrace.AlwaysSample())
	log.InfoContext(ctx, "hello", "k", "v")
	log.Warn("no span here")
	log.Debug("debug")
	log.Error("boom")
	unsampledCtx, unsampled := span(t, sdktrace.NeverSample())
	log.ErrorContext(unsampledCtx, "unsampled")

	got := lines(t, &buf)
	if len(got) != 5 {
		t.Fatalf("%d lines, want 5:\n%s", len(got), buf.String())
	}
	first := got[0]
	want := map[string]any{
		"severity":                             "INFO",
		"message":                              "hello",
		"component":                            "ingress",
		"logging.googleapis.com/trace":         "projects/my-project/traces/" + sc.TraceID().String(),
		"logging.googleapis.com/spanId":        sc.SpanID().String(),
		"logging.googleapis.com/trace_sampled": true,
	}
	for k, v := range want {
		if first[k] != v {
			t.Errorf("%s = %v, want %v (line %v)", k, first[k], v, first)
		}
	}
	if g, _ := first["g"].(map[string]any); g["k"] != "v" {
		t.Errorf("the group's attribute: %v, want g.k=v", first["g"])
	}
	for _, k := range []string{"level", "msg"} {
		if _, ok := first[k]; ok {
			t.Errorf("line has slog's %q key too: %v", k, first)
		}
	}
	if _, ok := first["time"]; !ok {
		t.Errorf("no time: %v", first)
	}
	if got[1]["severity"] != "WARNING" || got[2]["severity"] != "DEBUG" || got[3]["severity"] != "ERROR" {
		t.Errorf("severities %v %v %v, want WARNING DEBUG ERROR", got[1]["severity"], got[2]["severity"], got[3]["severity"])
	}
	for _, k := range []string{"logging.googleapis.com/trace", "logging.googleapis.com/spanId"} {
		if _, ok := got[1][k]; ok {
			t.Errorf("a record without a span has %s: %v", k, got[1])
		}
	}
	if last := got[4]; last["logging.googleapis.com/trace_sampled"] != false || last["logging.googleapis.com/spanId"] != unsampled.SpanID().String() {
		t.Errorf("unsampled span: %v", last)
	}
}

// Without a project the trace field is the bare trace id; text stays slog's
// text; an unknown format is an error.
func TestFormatsAndProject(t *testing.T) {
	var buf bytes.Buffer
	h, err := logging.NewHandler(&buf, logging.Options{Format: logging.FormatJSON})
	if err != nil {
		t.Fatal(err)
	}
	ctx, sc := span(t, sdktrace.AlwaysSample())
	slog.New(h).InfoContext(ctx, "x")
	if got := lines(t, &buf)[0]["logging.googleapis.com/trace"]; got != sc.TraceID().String() {
		t.Errorf("trace = %v, want the bare id %s", got, sc.TraceID())
	}

	buf.Reset()
	h, err = logging.NewHandler(&buf, logging.Options{Format: logging.FormatText})
	if err != nil {
		t.Fatal(err)
	}
	slog.New(h).Info("plain")
	if !strings.Contains(buf.String(), "level=INFO msg=plain") {
		t.Errorf("text line = %q", buf.String())
	}
	if _, err := logging.NewHandler(&buf, logging.Options{Format: "xml"}); err == nil {
		t.Error("format xml accepted")
	}
}

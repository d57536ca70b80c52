package tracing

import (
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/wochit-ingest/wochit-ingest/internal/redact"
)

// Media and callback URLs carry secrets in their query strings (signed-URL
// tokens) and sometimes in their paths, and otelhttp records them whole: in
// url.full, and in the error text of a failed request ("Get
// \"https://…?X-Goog-Signature=…\": …"). Every finished span is scrubbed
// before a processor sees it: any http(s) URL in a string attribute, event
// attribute or status description goes through internal/redact, the rule
// logs and failure messages use (no query, fragment, userinfo or token
// path segments, nor a resumable upload's upload_id).

func redactString(s string) string { return redact.Text(s) }

// redactAttrs returns attrs with URLs scrubbed, and whether anything changed;
// it allocates only when something did.
func redactAttrs(attrs []attribute.KeyValue) ([]attribute.KeyValue, bool) {
	var out []attribute.KeyValue
	for i, kv := range attrs {
		v, changed := redactValue(kv.Value)
		if !changed {
			continue
		}
		if out == nil {
			out = append(make([]attribute.KeyValue, 0, len(attrs)), attrs...)
		}
		out[i] = attribute.KeyValue{Key: kv.Key, Value: v}
	}
	if out == nil {
		return attrs, false
	}
	return out, true
}

func redactValue(v attribute.Value) (attribute.Value, bool) {
	switch v.Type() {
	case attribute.STRING:
		if s := redactString(v.AsString()); s != v.AsString() {
			return attribute.StringValue(s), true
		}
	case attribute.STRINGSLICE:
		in := v.AsStringSlice()
		out := make([]string, len(in))
		changed := false
		for i, s := range in {
			out[i] = redactString(s)
			changed = changed || out[i] != s
		}
		if changed {
			return attribute.StringSliceValue(out), true
		}
	}
	return v, false
}

// redactingProcessor hands next a scrubbed copy of each finished span.
type redactingProcessor struct {
	sdktrace.SpanProcessor
}

func (p redactingProcessor) OnEnd(s sdktrace.ReadOnlySpan) {
	p.SpanProcessor.OnEnd(redactSpan(s))
}

// redactedSpan overrides the parts of a finished span that can carry text.
type redactedSpan struct {
	sdktrace.ReadOnlySpan
	attrs  []attribute.KeyValue
	events []sdktrace.Event
	status sdktrace.Status
}

func (s redactedSpan) Attributes() []attribute.KeyValue { return s.attrs }
func (s redactedSpan) Events() []sdktrace.Event         { return s.events }
func (s redactedSpan) Status() sdktrace.Status          { return s.status }

func redactSpan(s sdktrace.ReadOnlySpan) sdktrace.ReadOnlySpan {
	attrs, changed := redactAttrs(s.Attributes())

	events := s.Events()
	var copied bool
	for i, e := range events {
		ea, ec := redactAttrs(e.Attributes)
		if !ec {
			continue
		}
		if !copied {
			events = append([]sdktrace.Event(nil), events...)
			copied = true
		}
		events[i].Attributes = ea
	}
	changed = changed || copied

	status := s.Status()
	if d := redactString(status.Description); d != status.Description {
		status.Description = d
		changed = true
	}

	if !changed {
		return s
	}
	return redactedSpan{ReadOnlySpan: s, attrs: attrs, events: events, status: status}
}

package ingress_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/interceptor"

	"github.com/wochit-ingest/wochit-ingest/ingress"
	"github.com/wochit-ingest/wochit-ingest/internal/logging"
	"github.com/wochit-ingest/wochit-ingest/internal/tracing"
)

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// With tracing on and LOG_FORMAT=json, a notification's access log line
// carries its webhook span, as Cloud Logging links it to Cloud Trace.
// Mutation: drop noteSpan in traced (or the ContextWithSpanContext in
// access) — the line has no logging.googleapis.com/trace.
func TestAccessLogJoinsTheNotificationsTrace(t *testing.T) {
	shared := temporalServer(t)
	rec := tracetest.NewSpanRecorder()
	tr := tracing.WithProcessor("ingress-test", rec)
	ic, err := tr.Interceptor()
	if err != nil {
		t.Fatal(err)
	}
	var logs lockedBuffer
	h, err := logging.NewHandler(&logs, logging.Options{Format: logging.FormatJSON, ProjectID: "my-project"})
	if err != nil {
		t.Fatal(err)
	}
	c := shared.NewClientWithOptions(client.Options{Interceptors: []interceptor.ClientInterceptor{ic}})
	srv := httptest.NewServer(ingress.NewServer(ingress.Config{
		Namespace: shared.GetDefaultNamespace(), AnySource: true, Tokens: []ingress.Token{tokenA}, Tracing: tr, Logger: slog.New(h),
	}, c))
	defer srv.Close()

	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/webhooks/wochit/"+tokenA, strings.NewReader(string(jsonBody(t, notification(uniqueID(t))))))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("ingress answered %d", resp.StatusCode)
	}
	if err := tr.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	var webhookTrace, webhookSpan string
	for _, s := range rec.Ended() {
		if s.Name() == "POST /webhooks/wochit/{token}" {
			webhookTrace, webhookSpan = s.SpanContext().TraceID().String(), s.SpanContext().SpanID().String()
		}
	}
	if webhookTrace == "" {
		t.Fatal("no webhook span")
	}
	var access map[string]any
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if m["message"] == "request" && m["route"] == "/webhooks/wochit/{token}" {
			access = m
		}
	}
	if access == nil {
		t.Fatalf("no access line for the notification in:\n%s", logs.String())
	}
	if got, want := access["logging.googleapis.com/trace"], "projects/my-project/traces/"+webhookTrace; got != want {
		t.Errorf("access line trace = %v, want %s (line %v)", got, want, access)
	}
	if got := access["logging.googleapis.com/spanId"]; got != webhookSpan {
		t.Errorf("access line spanId = %v, want the webhook span %s", got, webhookSpan)
	}
	if access["severity"] != "INFO" {
		t.Errorf("severity = %v", access["severity"])
	}
}

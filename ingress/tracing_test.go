package ingress_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/interceptor"

	"github.com/wochit-ingest/wochit-ingest/ingress"
	"github.com/wochit-ingest/wochit-ingest/internal/tracing"
)

// With tracing on, a notification is one trace: the webhook's server span,
// named by the route template, and the workflow start as its child. A
// sender's traceparent only links to it, and the sender's token, which may
// be in the path, appears in no span.
func TestNotificationIsTracedWithoutItsToken(t *testing.T) {
	shared := temporalServer(t)
	rec := tracetest.NewSpanRecorder()
	tr := tracing.WithProcessor("ingress-test", rec)
	ic, err := tr.Interceptor()
	if err != nil {
		t.Fatal(err)
	}
	c := shared.NewClientWithOptions(client.Options{Interceptors: []interceptor.ClientInterceptor{ic}})
	srv := httptest.NewServer(ingress.NewServer(ingress.Config{
		Namespace: shared.GetDefaultNamespace(), AnySource: true, Tokens: []ingress.Token{tokenA}, Tracing: tr,
	}, c))
	defer srv.Close()

	const senderTrace = "4bf92f3577b34da6a3ce929d0e0e4736"
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/webhooks/wochit/"+tokenA, strings.NewReader(string(jsonBody(t, notification(uniqueID(t))))))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("traceparent", "00-"+senderTrace+"-00f067aa0ba902b7-01")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var started map[string]string
	_ = json.NewDecoder(resp.Body).Decode(&started)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("ingress answered %d", resp.StatusCode)
	}
	// The run's first event carries the span, for the worker's interceptor
	// to continue the trace from.
	it := c.GetWorkflowHistory(context.Background(), started["workflowId"], started["runId"], false, 0)
	first, err := it.Next()
	if err != nil {
		t.Fatal(err)
	}
	if first.GetWorkflowExecutionStartedEventAttributes().GetHeader().GetFields()["_tracer-data"] == nil {
		t.Fatalf("the run's start has no trace header: %v", first.GetWorkflowExecutionStartedEventAttributes().GetHeader())
	}
	if err := tr.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}

	var webhook, start bool
	spans := rec.Ended()
	for _, s := range spans {
		if s.SpanContext().TraceID().String() == senderTrace {
			t.Errorf("span %q joined the sender's trace", s.Name())
		}
		for _, a := range s.Attributes() {
			if strings.Contains(a.Value.Emit(), tokenA) {
				t.Errorf("span %q attribute %s holds the token: %s", s.Name(), a.Key, a.Value.Emit())
			}
		}
		switch {
		case s.Name() == "POST /webhooks/wochit/{token}":
			webhook = true
			if len(s.Links()) != 1 || s.Links()[0].SpanContext.TraceID().String() != senderTrace {
				t.Errorf("the webhook span links %v, want the sender's span", s.Links())
			}
		case strings.HasPrefix(s.Name(), "StartWorkflow:IngestVideo"):
			start = true
		}
	}
	if !webhook || !start {
		names := make([]string, len(spans))
		for i, s := range spans {
			names[i] = s.Name()
		}
		t.Fatalf("spans %q; want the webhook's and the workflow start's", names)
	}
	for _, s := range spans {
		if strings.HasPrefix(s.Name(), "StartWorkflow:") {
			for _, p := range spans {
				if p.Name() == "POST /webhooks/wochit/{token}" && s.Parent().SpanID() != p.SpanContext().SpanID() {
					t.Errorf("StartWorkflow's parent is %s, want the webhook span", s.Parent().SpanID())
				}
			}
		}
	}
}

package tracing

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
	"go.temporal.io/server/temporaltest"
	"google.golang.org/protobuf/proto"
)

const (
	taskQueue    = "tracing-test"
	workflowName = "TracedWorkflow"
	activityName = "TracedDownload"
)

// One notification, one trace: webhook → StartWorkflow → RunWorkflow →
// StartActivity → RunActivity → outbound GET → the origin, on a real Temporal
// server, each span the child of the one before.
func TestOneTraceFromWebhookToOrigin(t *testing.T) {
	t.Parallel()
	rec := tracetest.NewSpanRecorder()
	tr := newTracing(resource.Empty(), rec)
	t.Cleanup(func() { _ = tr.Shutdown(context.Background()) })
	ic, err := tr.Interceptor()
	if err != nil {
		t.Fatal(err)
	}

	origin := httptest.NewServer(tr.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "media bytes")
	}), "origin"))
	t.Cleanup(origin.Close)
	httpClient := &http.Client{Transport: tr.Transport(http.DefaultTransport.(*http.Transport).Clone()), Timeout: 10 * time.Second}

	download := func(ctx context.Context, url string) (string, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return "", err
		}
		resp, err := httpClient.Do(req)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return string(b), err
	}
	wf := func(ctx workflow.Context, url string) (string, error) {
		ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
			StartToCloseTimeout: 10 * time.Second,
			RetryPolicy:         &temporal.RetryPolicy{MaximumAttempts: 1},
		})
		var got string
		err := workflow.ExecuteActivity(ctx, activityName, url).Get(ctx, &got)
		return got, err
	}

	ts := temporaltest.NewServer(temporaltest.WithT(t))
	c := ts.NewClientWithOptions(client.Options{Interceptors: []interceptor.ClientInterceptor{ic}})
	w := worker.New(c, taskQueue, worker.Options{})
	w.RegisterWorkflowWithOptions(wf, workflow.RegisterOptions{Name: workflowName})
	w.RegisterActivityWithOptions(download, activity.RegisterOptions{Name: activityName})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)

	webhook := httptest.NewServer(tr.Handler(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		run, err := c.ExecuteWorkflow(r.Context(), client.StartWorkflowOptions{ID: "traced", TaskQueue: taskQueue},
			workflowName, origin.URL+"/video.mp4?X-Goog-Signature=secret")
		if err != nil {
			http.Error(rw, "start failed", http.StatusServiceUnavailable)
			return
		}
		rw.WriteHeader(http.StatusAccepted)
		_ = json.NewEncoder(rw).Encode(map[string]string{"workflowId": run.GetID(), "runId": run.GetRunID()})
	}), "webhook"))
	t.Cleanup(webhook.Close)

	resp, err := http.Post(webhook.URL+"/webhooks/wochit", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	var started map[string]string
	err = json.NewDecoder(resp.Body).Decode(&started)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted || err != nil {
		t.Fatalf("webhook answered %d (%v)", resp.StatusCode, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var got string
	if err := c.GetWorkflow(ctx, started["workflowId"], started["runId"]).Get(ctx, &got); err != nil {
		t.Fatalf("workflow: %v", err)
	}
	if got != "media bytes" {
		t.Fatalf("workflow returned %q, want the origin's body", got)
	}

	chain := []struct {
		name string
		kind trace.SpanKind
	}{
		{"webhook", trace.SpanKindServer},
		{"StartWorkflow:" + workflowName, trace.SpanKindClient},
		{"RunWorkflow:" + workflowName, trace.SpanKindServer},
		{"StartActivity:" + activityName, trace.SpanKindClient},
		{"RunActivity:" + activityName, trace.SpanKindServer},
		{"HTTP GET", trace.SpanKindClient},
		{"origin", trace.SpanKindServer},
	}
	// Server spans end just after their handler returns, which can be after
	// the caller has moved on: wait for all of them.
	spans := waitForSpans(t, rec, len(chain))
	byName := map[string]sdktrace.ReadOnlySpan{}
	for _, s := range spans {
		if _, dup := byName[s.Name()]; dup {
			t.Errorf("two spans named %q", s.Name())
		}
		byName[s.Name()] = s
	}
	for _, s := range spans {
		t.Logf("span %-32q kind=%-6v id=%s parent=%s", s.Name(), s.SpanKind(), s.SpanContext().SpanID(), s.Parent().SpanID())
	}

	root := byName["webhook"]
	if root == nil {
		t.Fatal("no webhook span")
	}
	traceID := root.SpanContext().TraceID()
	var parent trace.SpanContext // the root has none
	for _, want := range chain {
		s := byName[want.name]
		if s == nil {
			t.Fatalf("no span %q", want.name)
		}
		if s.SpanKind() != want.kind {
			t.Errorf("span %q kind = %v, want %v", want.name, s.SpanKind(), want.kind)
		}
		if got := s.SpanContext().TraceID(); got != traceID {
			t.Errorf("span %q trace id = %s, want %s", want.name, got, traceID)
		}
		if got := s.Parent().SpanID(); got != parent.SpanID() {
			t.Errorf("span %q parent = %s, want %s", want.name, got, parent.SpanID())
		}
		parent = s.SpanContext()
	}
	if len(spans) != len(chain) {
		t.Errorf("got %d spans, want %d", len(spans), len(chain))
	}

	// The signed URL's token must not reach the exporter.
	if u := attr(byName["HTTP GET"], "url.full"); u != origin.URL+"/video.mp4" {
		t.Errorf("client span url.full = %q, want it without the query", u)
	}
	if id := attr(byName["RunActivity:"+activityName], "temporalWorkflowID"); id != "traced" {
		t.Errorf("RunActivity temporalWorkflowID = %q, want traced", id)
	}
}

func waitForSpans(t *testing.T, rec *tracetest.SpanRecorder, n int) []sdktrace.ReadOnlySpan {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		spans := rec.Ended()
		if len(spans) >= n || time.Now().After(deadline) {
			return spans
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func attr(s sdktrace.ReadOnlySpan, key attribute.Key) string {
	if s == nil {
		return ""
	}
	for _, kv := range s.Attributes() {
		if kv.Key == key {
			return kv.Value.Emit()
		}
	}
	return ""
}

// A caller outside cannot make our spans its children: PublicHandler starts
// a new trace and only links the caller's.
func TestPublicHandlerStartsNewTrace(t *testing.T) {
	t.Parallel()
	rec := tracetest.NewSpanRecorder()
	tr := newTracing(resource.Empty(), rec)
	srv := httptest.NewServer(tr.PublicHandler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}), "webhook"))
	t.Cleanup(srv.Close)

	const callerTrace, callerSpan = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	req, _ := http.NewRequest(http.MethodPost, srv.URL, nil)
	req.Header.Set("traceparent", "00-"+callerTrace+"-"+callerSpan+"-00") // not sampled
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	spans := waitForSpans(t, rec, 1)
	if len(spans) != 1 {
		t.Fatalf("got %d spans, want 1 (the caller's sampled=0 must not switch ours off)", len(spans))
	}
	s := spans[0]
	if s.Parent().IsValid() || s.SpanContext().TraceID().String() == callerTrace {
		t.Errorf("span continues the caller's trace (parent %v)", s.Parent())
	}
	if l := s.Links(); len(l) != 1 || l[0].SpanContext.SpanID().String() != callerSpan {
		t.Errorf("links = %v, want one to the caller's span", l)
	}
}

func clearOTelEnv(t *testing.T) {
	for _, k := range []string{
		"OTEL_SDK_DISABLED", "OTEL_TRACES_EXPORTER",
		"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
		"OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
		"OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
		"OTEL_EXPORTER_OTLP_COMPRESSION", "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION",
		"OTEL_SERVICE_NAME", "OTEL_RESOURCE_ATTRIBUTES", "OTEL_TRACES_SAMPLER",
	} {
		t.Setenv(k, "") // restores the value after the test
		os.Unsetenv(k)  // the SDK takes set-but-empty for a bad value
	}
}

func TestSetupWithoutEndpointIsOff(t *testing.T) {
	clearOTelEnv(t)
	tr, err := Setup(context.Background(), "wochit-ingest", "test")
	if err != nil {
		t.Fatal(err)
	}
	if tr.Enabled() {
		t.Fatal("Enabled() = true with no endpoint configured")
	}
	h := http.NewServeMux()
	if got := tr.Handler(h, "x"); got != http.Handler(h) {
		t.Errorf("Handler wrapped its argument: %T", got)
	}
	if got := tr.PublicHandler(h, "x"); got != http.Handler(h) {
		t.Errorf("PublicHandler wrapped its argument: %T", got)
	}
	rt := &http.Transport{}
	if got := tr.Transport(rt); got != http.RoundTripper(rt) {
		t.Errorf("Transport wrapped its argument: %T", got)
	}
	if got := tr.Transport(nil); got != nil {
		t.Errorf("Transport(nil) = %T, want nil", got)
	}
	ic, err := tr.Interceptor()
	if err != nil || ic == nil {
		t.Errorf("Interceptor() = %v, %v; want a pass-through", ic, err)
	}
	if _, ok := ic.(*interceptor.InterceptorBase); !ok {
		t.Errorf("Interceptor() = %T, want the pass-through *interceptor.InterceptorBase", ic)
	}
	if err := tr.Shutdown(context.Background()); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	var zero *Tracing
	if zero.Enabled() || zero.Handler(h, "x") != http.Handler(h) {
		t.Error("a nil *Tracing is not tracing off")
	}
}

func TestConfigured(t *testing.T) {
	for _, tc := range []struct {
		env     map[string]string
		on      bool
		wantErr bool
	}{
		{env: nil},
		{env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, on: true},
		{env: map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/v1/traces"}, on: true},
		{env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "  "}},
		{env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_SDK_DISABLED": "TRUE"}},
		{env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_SDK_DISABLED": "false"}, on: true},
		{env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_TRACES_EXPORTER": "none"}},
		{env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_TRACES_EXPORTER": "otlp"}, on: true},
		{env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_TRACES_EXPORTER": "zipkin"}, wantErr: true},
		{env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "c:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, on: true},
		{env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"}, wantErr: true},
		{env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json",
			"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/protobuf"}, on: true},
	} {
		t.Run(fmt.Sprint(tc.env), func(t *testing.T) {
			on, err := configured(func(k string) string { return tc.env[k] })
			if on != tc.on || (err != nil) != tc.wantErr {
				t.Errorf("configured = %v, %v; want %v, error %v", on, err, tc.on, tc.wantErr)
			}
		})
	}
}

func TestSetupGRPC(t *testing.T) {
	clearOTelEnv(t)
	// Nothing listens there: the exporter dials lazily, and with no span
	// to send, Shutdown has nothing to wait for.
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:1")
	t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
	tr, err := Setup(context.Background(), "wochit-ingest", "test")
	if err != nil {
		t.Fatal(err)
	}
	if !tr.Enabled() {
		t.Fatal("Enabled() = false")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := tr.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
}

// With an endpoint set, a span reaches the collector as an OTLP/HTTP
// protobuf POST by the time Shutdown returns.
func TestSetupExportsOverOTLPHTTP(t *testing.T) {
	clearOTelEnv(t)
	type export struct {
		contentType string
		req         *coltracepb.ExportTraceServiceRequest
	}
	got := make(chan export, 10)
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/v1/traces" {
			http.NotFound(w, r)
			return
		}
		body, _ := io.ReadAll(r.Body)
		req := &coltracepb.ExportTraceServiceRequest{}
		if err := proto.Unmarshal(body, req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		got <- export{r.Header.Get("Content-Type"), req}
		b, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
		w.Header().Set("Content-Type", "application/x-protobuf")
		_, _ = w.Write(b)
	}))
	t.Cleanup(collector.Close)
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector.URL)
	t.Setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment.name=test")

	tr, err := Setup(context.Background(), "wochit-ingest", "v1.2.3")
	if err != nil {
		t.Fatal(err)
	}
	if !tr.Enabled() {
		t.Fatal("Enabled() = false with OTEL_EXPORTER_OTLP_ENDPOINT set")
	}
	srv := httptest.NewServer(tr.Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}), "probe"))
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	srv.Close() // returns once the handler, and so its span, has finished

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := tr.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	var e export
	select {
	case e = <-got:
	default:
		t.Fatal("collector received no POST /v1/traces by the time Shutdown returned")
	}
	if e.contentType != "application/x-protobuf" {
		t.Errorf("Content-Type = %q, want application/x-protobuf", e.contentType)
	}
	var names []string
	res := map[string]string{}
	for _, rs := range e.req.GetResourceSpans() {
		for _, kv := range rs.GetResource().GetAttributes() {
			res[kv.GetKey()] = kv.GetValue().GetStringValue()
		}
		for _, ss := range rs.GetScopeSpans() {
			for _, s := range ss.GetSpans() {
				names = append(names, s.GetName())
			}
		}
	}
	if len(names) != 1 || names[0] != "probe" {
		t.Errorf("exported spans %q, want [probe]", names)
	}
	for k, want := range map[string]string{
		"service.name": "wochit-ingest", "service.version": "v1.2.3", "deployment.environment.name": "test",
	} {
		if res[k] != want {
			t.Errorf("resource %s = %q, want %q", k, res[k], want)
		}
	}
}

func TestRedactString(t *testing.T) {
	for in, want := range map[string]string{
		"https://cdn.example/v.mp4?X-Goog-Signature=abc&x=1":                    "https://cdn.example/v.mp4",
		`Get "https://cdn.example/v.mp4?sig=abc": dial tcp: connection refused`: `Get "https://cdn.example/v.mp4": dial tcp: connection refused`,
		"http://h/a#frag and http://h/b?q=1 end":                                "http://h/a and http://h/b end",
		"https://cdn.example/v.mp4":                                             "https://cdn.example/v.mp4",
		"what? no url":                                                          "what? no url",
		// Tokens in the path go too (internal/redact has the whole rule).
		`Get "https://x.akamaized.net/exp=1~acl=%2F*~hmac=ab12/v.mp4": EOF`: `Get "https://x.akamaized.net/REDACTED/v.mp4": EOF`,
		"https://h/d/3f2504e0-4f89-11d3-9a0c-0305e82c3301/v.mp4":            "https://h/d/REDACTED/v.mp4",
	} {
		if got := redactString(in); got != want {
			t.Errorf("redactString(%q) = %q, want %q", in, got, want)
		}
	}
}

// A failed download's error text names the URL: the token goes before export.
func TestSpansLeaveWithoutQueryStrings(t *testing.T) {
	t.Parallel()
	rec := tracetest.NewSpanRecorder()
	tr := newTracing(resource.Empty(), rec)
	const signed = "https://cdn.example/v.mp4?X-Goog-Signature=secret"
	failure := `Get "` + signed + `": connection refused`
	_, span := tr.provider.Tracer("test").Start(context.Background(), "download")
	span.SetAttributes(attribute.String("url.full", signed), attribute.StringSlice("urls", []string{signed, "x"}))
	span.RecordError(errors.New(failure))
	span.SetStatus(codes.Error, failure)
	span.End()

	spans := rec.Ended()
	if len(spans) != 1 {
		t.Fatalf("got %d spans, want 1", len(spans))
	}
	s := spans[0]
	var texts []string
	for _, kv := range s.Attributes() {
		texts = append(texts, kv.Value.Emit())
	}
	for _, e := range s.Events() {
		for _, kv := range e.Attributes {
			texts = append(texts, kv.Value.Emit())
		}
	}
	texts = append(texts, s.Status().Description)
	for _, text := range texts {
		if strings.Contains(text, "secret") {
			t.Errorf("exported text %q keeps the token", text)
		}
	}
	if got := attr(s, "url.full"); got != "https://cdn.example/v.mp4" {
		t.Errorf("url.full = %q", got)
	}
	if got := s.Status().Description; got != `Get "https://cdn.example/v.mp4": connection refused` {
		t.Errorf("status = %q", got)
	}
}

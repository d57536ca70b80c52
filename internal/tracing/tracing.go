package tracing

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/baggage"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	temporalotel "go.temporal.io/sdk/contrib/opentelemetry"
	"go.temporal.io/sdk/interceptor"
)

// Tracing is the process's tracing setup. The zero value, and what Setup
// returns when no exporter is configured, is tracing off.
type Tracing struct {
	provider   *sdktrace.TracerProvider // nil when tracing is off
	propagator propagation.TextMapPropagator

	startTracer     interceptor.Tracer // StartWorkflowSpan's, built once
	startTracerErr  error
	startTracerOnce sync.Once
}

// Setup turns tracing on when the environment names an OTLP endpoint (see the
// package documentation) and installs the provider and the W3C propagator as
// the OpenTelemetry globals, so libraries that trace through them (the GCS
// client) join the same traces. Otherwise it returns tracing off and touches
// no global. Call Shutdown before the process exits to flush spans.
func Setup(ctx context.Context, service, version string) (*Tracing, error) {
	on, err := configured(os.Getenv)
	if err != nil {
		return nil, err
	}
	if !on {
		return &Tracing{}, nil
	}
	res, err := newResource(ctx, service, version)
	if err != nil {
		return nil, err
	}
	exp, err := newExporter(ctx, os.Getenv)
	if err != nil {
		return nil, err
	}
	t := newTracing(res, sdktrace.NewBatchSpanProcessor(exp))
	otel.SetTracerProvider(t.provider)
	otel.SetTextMapPropagator(t.propagator)
	// Export failures (collector down) would otherwise go to the standard
	// logger; they are worth a warning, never a failed ingest.
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
		slog.Warn("opentelemetry", "err", err)
	}))
	return t, nil
}

// newTracing builds tracing on around one span processor (a batching OTLP
// exporter in production, a recorder in tests). Spans pass through the
// URL-query redaction before the processor sees them.
func newTracing(res *resource.Resource, sp sdktrace.SpanProcessor) *Tracing {
	return &Tracing{
		provider: sdktrace.NewTracerProvider(
			sdktrace.WithResource(res),
			sdktrace.WithSpanProcessor(redactingProcessor{sp}),
		),
		propagator: propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}),
	}
}

// WithProcessor is tracing on, exporting to sp instead of OTLP (tests read
// spans from a tracetest.SpanRecorder). It does not touch the globals.
func WithProcessor(service string, sp sdktrace.SpanProcessor) *Tracing {
	return newTracing(resource.NewSchemaless(semconv.ServiceName(service)), sp)
}

// configured reports whether the environment asks for tracing.
func configured(getenv func(string) string) (bool, error) {
	env := func(k string) string { return strings.TrimSpace(getenv(k)) }
	if strings.EqualFold(env("OTEL_SDK_DISABLED"), "true") {
		return false, nil
	}
	switch strings.ToLower(env("OTEL_TRACES_EXPORTER")) {
	case "", "otlp":
	case "none":
		return false, nil
	default:
		return false, fmt.Errorf("tracing: OTEL_TRACES_EXPORTER=%q is not supported (use otlp or none)", env("OTEL_TRACES_EXPORTER"))
	}
	if env("OTEL_EXPORTER_OTLP_ENDPOINT") == "" && env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") == "" {
		return false, nil
	}
	_, err := protocol(getenv)
	return err == nil, err
}

// protocol is the OTLP transport the environment asks for, http/protobuf
// unless told otherwise. http/json is not implemented by the Go exporters.
func protocol(getenv func(string) string) (string, error) {
	p := strings.TrimSpace(getenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"))
	if p == "" {
		p = strings.TrimSpace(getenv("OTEL_EXPORTER_OTLP_PROTOCOL"))
	}
	switch p {
	case "", "http/protobuf":
		return "http/protobuf", nil
	case "grpc":
		return "grpc", nil
	default:
		return "", fmt.Errorf("tracing: OTLP protocol %q is not supported (use http/protobuf or grpc)", p)
	}
}

// newExporter builds the OTLP exporter. The exporters read the endpoint,
// headers, timeout, compression and TLS settings from the environment
// themselves; no connection is made here.
func newExporter(ctx context.Context, getenv func(string) string) (sdktrace.SpanExporter, error) {
	p, err := protocol(getenv)
	if err != nil {
		return nil, err
	}
	var exp sdktrace.SpanExporter
	if p == "grpc" {
		exp, err = otlptracegrpc.New(ctx)
	} else {
		exp, err = otlptracehttp.New(ctx)
	}
	if err != nil {
		return nil, fmt.Errorf("tracing: OTLP %s exporter: %w", p, err)
	}
	return exp, nil
}

// newResource names the process; OTEL_SERVICE_NAME and
// OTEL_RESOURCE_ATTRIBUTES override the names given in code.
func newResource(ctx context.Context, service, version string) (*resource.Resource, error) {
	var attrs []attribute.KeyValue
	if service != "" {
		attrs = append(attrs, semconv.ServiceName(service))
	}
	if version != "" {
		attrs = append(attrs, semconv.ServiceVersion(version))
	}
	res, err := resource.New(ctx,
		resource.WithTelemetrySDK(),
		resource.WithHost(),
		resource.WithAttributes(attrs...),
		resource.WithFromEnv(),
	)
	if err != nil {
		return nil, fmt.Errorf("tracing: resource: %w", err)
	}
	return res, nil
}

// Enabled reports whether spans are recorded and exported.
func (t *Tracing) Enabled() bool { return t != nil && t.provider != nil }

// Shutdown flushes the spans not yet exported and stops the exporter. It is
// a no-op when tracing is off.
func (t *Tracing) Shutdown(ctx context.Context) error {
	if !t.Enabled() {
		return nil
	}
	if err := t.provider.Shutdown(ctx); err != nil {
		return fmt.Errorf("tracing: shutdown: %w", err)
	}
	return nil
}

// Interceptor is the Temporal SDK's OpenTelemetry interceptor, for
// client.Options.Interceptors. A worker built from that client inherits it,
// so workflow and activity spans continue the trace of whoever started the
// workflow. When tracing is off it is a pass-through that writes no header.
func (t *Tracing) Interceptor() (interceptor.Interceptor, error) {
	if !t.Enabled() {
		return &interceptor.InterceptorBase{}, nil
	}
	ic, err := temporalotel.NewTracingInterceptor(temporalotel.TracerOptions{
		Tracer:            t.provider.Tracer("temporal-sdk-go"),
		TextMapPropagator: t.propagator,
		// A header that cannot be read must cost a span, never a workflow task.
		AllowInvalidParentSpans: true,
	})
	if err != nil {
		return nil, fmt.Errorf("tracing: temporal interceptor: %w", err)
	}
	return ic, nil
}

// Handler traces the requests h serves, in server spans named operation,
// continuing the trace of a caller that sends a traceparent header. Use it
// for callers inside the trust boundary; PublicHandler is for the others.
// When tracing is off it returns h itself.
func (t *Tracing) Handler(h http.Handler, operation string) http.Handler {
	if !t.Enabled() {
		return h
	}
	return otelhttp.NewHandler(h, operation, t.httpOptions()...)
}

// PublicHandler is Handler for requests from outside (Wochit's webhook): each
// request starts a new trace, linked to the caller's span if it sent one, and
// the caller's baggage is dropped, so a caller can neither join our traces,
// switch their sampling off, nor put baggage into workflow headers.
// When tracing is off it returns h itself.
func (t *Tracing) PublicHandler(h http.Handler, operation string) http.Handler {
	if !t.Enabled() {
		return h
	}
	noBaggage := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r.WithContext(baggage.ContextWithoutBaggage(r.Context())))
	})
	return otelhttp.NewHandler(noBaggage, operation, append(t.httpOptions(), otelhttp.WithPublicEndpointFn(func(*http.Request) bool { return true }))...)
}

// Transport traces the requests sent through rt, in client spans, and sends
// the trace context along in traceparent/baggage headers. URL query strings
// (signed-URL tokens) never reach the exporter. When tracing is off it
// returns rt itself.
func (t *Tracing) Transport(rt http.RoundTripper) http.RoundTripper {
	if !t.Enabled() {
		return rt
	}
	return otelhttp.NewTransport(rt, t.httpOptions()...)
}

func (t *Tracing) httpOptions() []otelhttp.Option {
	return []otelhttp.Option{
		otelhttp.WithTracerProvider(t.provider),
		otelhttp.WithPropagators(t.propagator),
		// otelhttp names server spans after the method alone; the
		// operation says which service and endpoint the span is.
		otelhttp.WithSpanNameFormatter(spanName),
		// Metrics are Prometheus's job here (internal/metrics).
		otelhttp.WithMeterProvider(metricnoop.NewMeterProvider()),
	}
}

func spanName(operation string, r *http.Request) string {
	if operation != "" {
		return operation
	}
	return "HTTP " + r.Method // the client side, otelhttp's own name
}

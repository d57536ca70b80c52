package tracing

import (
	"context"

	commonpb "go.temporal.io/api/common/v1"
	temporalotel "go.temporal.io/sdk/contrib/opentelemetry"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/interceptor"
)

// headerKey is where the SDK's tracing interceptor looks for the span in a
// workflow's header (interceptor.TracerOptions' default).
const headerKey = "_tracer-data"

// StartWorkflowSpan is the client span of a workflow start made with the raw
// StartWorkflowExecution call (which the client's interceptors never see):
// put header in the request, and call end with the call's error. The
// workflow's RunWorkflow span then continues the trace in ctx. When tracing
// is off, header is nil and end does nothing.
func (t *Tracing) StartWorkflowSpan(ctx context.Context, workflowType, workflowID string) (header *commonpb.Header, end func(error)) {
	noop := func(error) {}
	if !t.Enabled() {
		return nil, noop
	}
	t.startTracerOnce.Do(func() {
		t.startTracer, t.startTracerErr = temporalotel.NewTracer(temporalotel.TracerOptions{
			Tracer:            t.provider.Tracer("temporal-sdk-go"),
			TextMapPropagator: t.propagator,
		})
	})
	tracer := t.startTracer
	if t.startTracerErr != nil {
		return nil, noop
	}
	span, err := tracer.StartSpan(&interceptor.TracerStartSpanOptions{
		Parent:     tracer.SpanFromContext(ctx),
		Operation:  "StartWorkflow",
		Name:       workflowType,
		Tags:       map[string]string{"temporalWorkflowID": workflowID},
		DependedOn: true,
		ToHeader:   true,
	})
	if err != nil {
		return nil, noop
	}
	end = func(err error) { span.Finish(&interceptor.TracerFinishSpanOptions{Error: err}) }
	data, err := tracer.MarshalSpan(span)
	if err != nil || len(data) == 0 {
		return nil, end
	}
	payload, err := converter.GetDefaultDataConverter().ToPayload(data)
	if err != nil {
		return nil, end
	}
	return &commonpb.Header{Fields: map[string]*commonpb.Payload{headerKey: payload}}, end
}

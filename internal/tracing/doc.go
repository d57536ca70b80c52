// Package tracing is the OpenTelemetry setup shared by the ingress, the
// worker and the CLI: one trace follows a notification from the webhook
// request, through the workflow start, the workflow and its activities, to
// the downloads from the origins and the callback to the customer.
//
// # Turning it on
//
// Tracing is off unless the environment names an OTLP endpoint:
//
//   - OTEL_EXPORTER_OTLP_ENDPOINT (e.g. http://otel-collector:4318; /v1/traces
//     is appended) or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT (used as is) turns it on.
//   - OTEL_SDK_DISABLED=true, or OTEL_TRACES_EXPORTER=none, keeps it off anyway.
//     Any other OTEL_TRACES_EXPORTER than otlp is an error.
//   - OTEL_EXPORTER_OTLP_PROTOCOL (or OTEL_EXPORTER_OTLP_TRACES_PROTOCOL):
//     http/protobuf (the default, port 4318) or grpc (port 4317). http/json is
//     not supported and is an error.
//   - The exporter itself reads OTEL_EXPORTER_OTLP_[TRACES_]HEADERS, _TIMEOUT,
//     _COMPRESSION, _INSECURE and _CERTIFICATE; the SDK reads OTEL_TRACES_SAMPLER,
//     OTEL_TRACES_SAMPLER_ARG (default: parentbased_always_on) and OTEL_BSP_*.
//   - The resource has service.name and service.version as given to Setup, the
//     host name and the SDK's name; OTEL_SERVICE_NAME and
//     OTEL_RESOURCE_ATTRIBUTES override and add to them.
//
// When it is on, Setup installs the provider and the W3C tracecontext+baggage
// propagator as the OpenTelemetry globals (so the GCS client's own spans join
// in) and sends OpenTelemetry's internal errors to slog as warnings. When it is
// off, nothing is exported or installed: Handler, PublicHandler and Transport
// return their argument unchanged, and Interceptor is a pass-through.
//
// # The spans
//
// For one notification (names as the Temporal interceptor and otelhttp make
// them; workflow and activity type names after the colon):
//
//	<operation>                       server  the webhook request (PublicHandler/Handler)
//	└ StartWorkflow:IngestVideo       client  the ingress's ExecuteWorkflow
//	  └ RunWorkflow:IngestVideo       server  the workflow, on a worker
//	    └ StartActivity:TransferToGCS client  one per activity the workflow schedules
//	      └ RunActivity:TransferToGCS server  one per attempt, on a worker
//	        └ HTTP GET                client  the download, through Transport
//	          └ <operation>           server  the origin, if it traces too
//
// Temporal spans carry temporalWorkflowID, temporalRunID and temporalActivityID
// attributes; HTTP spans the usual http.request.method, url.full, server.address
// and http.response.status_code. Signals, queries and updates get their own
// spans (HandleSignal:…, HandleQuery:…). Query strings and fragments of any
// http(s) URL in a span's attributes, events or status are removed before
// export: signed media URLs carry their tokens there.
package tracing

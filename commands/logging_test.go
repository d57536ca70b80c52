package commands

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/wochit-ingest/wochit-ingest/internal/config"
)

// LOG_FORMAT=json logs what Cloud Logging reads, and GOOGLE_CLOUD_PROJECT
// names the project of a traced line's trace, for the ingress and the
// worker alike. Mutations: newLogger back to slog.NewJSONHandler → "severity
// = <nil>"; the Project not passed on → the trace field is the bare id.
func TestJSONLogsForCloudLogging(t *testing.T) {
	env := []string{"LOG_FORMAT=json", "GOOGLE_CLOUD_PROJECT=my-project", "PAYLOAD_KEYS=off", "GCS_BUCKET=b",
		"CALLBACK_URL=https://backend.example.com/hooks", "CALLBACK_SECRET=whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}
	ingress, err := loadIngress(nil, env, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	worker, err := loadWorker(nil, env, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	tp := sdktrace.NewTracerProvider()
	defer tp.Shutdown(context.Background())
	ctx, span := tp.Tracer("test").Start(context.Background(), "op")
	defer span.End()
	for name, cfg := range map[string]config.Log{"ingress": ingress.Log, "worker": worker.Log} {
		var buf bytes.Buffer
		newLogger(cfg, &buf).InfoContext(ctx, "hello")
		var line map[string]any
		if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
			t.Fatalf("%s: %q: %v", name, buf.String(), err)
		}
		want := "projects/my-project/traces/" + span.SpanContext().TraceID().String()
		if line["severity"] != "INFO" || line["message"] != "hello" || line["logging.googleapis.com/trace"] != want {
			t.Errorf("%s (%+v): line %v; want severity INFO, message hello, trace %s", name, cfg, line, want)
		}
	}
}

package worker_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/wochit-ingest/wochit-ingest/contract"

	"go.temporal.io/sdk/testsuite"

	"github.com/wochit-ingest/wochit-ingest/activities"
	"github.com/wochit-ingest/wochit-ingest/internal/safehttp"
	"github.com/wochit-ingest/wochit-ingest/internal/webhook"
	"github.com/wochit-ingest/wochit-ingest/worker"
)

// The production wiring, not a test double: a callback endpoint that accepts
// the request and never answers is cut after CallbackTimeout (15 s), and the
// attempt reports a retryable failure. It takes 15 s, so it runs in parallel.
func TestCallbackToAHangingEndpointIsCutAt15Seconds(t *testing.T) {
	t.Parallel()
	if activities.CallbackTimeout != 15*time.Second {
		t.Fatalf("CallbackTimeout = %s, want the documented 15s", activities.CallbackTimeout)
	}
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.ReadAll(r.Body)
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)

	secret, err := webhook.ParseSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	if err != nil {
		t.Fatal(err)
	}
	acts, closeDeps, err := worker.NewActivities(context.Background(), worker.Config{
		Bucket:          "unused",
		StorageEndpoint: "http://127.0.0.1:1", // never contacted
		CallbackURL:     srv.URL,
		CallbackSecrets: []webhook.Secret{secret},
		Callbacks:       safehttp.Policy{AllowPrivate: true, AllowAnyPort: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer closeDeps()
	env := (&testsuite.WorkflowTestSuite{}).NewTestActivityEnvironment()
	env.RegisterActivity(acts)

	start := time.Now()
	v, err := env.ExecuteActivity(acts.DeliverCallback, activities.CallbackInput{
		WebhookID: "msg_hang", Event: contract.Event{Type: contract.VideoStored}, Attempt: 1,
	})
	took := time.Since(start)
	if err != nil {
		t.Fatalf("DeliverCallback: %v", err)
	}
	var res activities.CallbackAttempt
	if err := v.Get(&res); err != nil {
		t.Fatal(err)
	}
	if res.Outcome != activities.AttemptRetry || res.Error == "" {
		t.Fatalf("attempt = %+v, want a retryable failure with an error", res)
	}
	if took < 15*time.Second || took > 20*time.Second {
		t.Fatalf("the attempt took %s, want it cut at 15s", took)
	}
}

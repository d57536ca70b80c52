package activities_test

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/wochit-ingest/wochit-ingest/contract"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/wochit-ingest/wochit-ingest/activities"
	"github.com/wochit-ingest/wochit-ingest/devstack/mediaorigin"
	"github.com/wochit-ingest/wochit-ingest/workflows"
)

// The activity turns the engine's record of repeated failures into
// Temporal's: the second identical failure asks for a retry no sooner than
// 30 minutes (NextRetryDelay), and GCS refusing the bucket is final.
//
// Mutation: applicationError drops NextRetryDelay → "attempt 2:
// NextRetryDelay 0s, want at least 30m0s".
func TestRepeatedFailureDelaysTheNextAttempt(t *testing.T) {
	f := newFixture(t)
	body := mediaorigin.Video("cut", 300<<10)
	f.origin.Put("/v.mp4", mediaorigin.File{Body: body, ContentType: "video/mp4", NoRanges: true, CutAfter: 100 << 10})
	in := f.input(contract.KindVideo, "/v.mp4", "cut")
	for attempt, min := range []time.Duration{0, 30 * time.Minute} {
		_, err := f.transfer(in)
		var appErr *temporal.ApplicationError
		if !errors.As(err, &appErr) || appErr.Type() != string(contract.IncompleteBody) || appErr.NonRetryable() {
			t.Fatalf("attempt %d: %v, want a retryable %s", attempt+1, err, contract.IncompleteBody)
		}
		if d := appErr.NextRetryDelay(); d < min || (min == 0 && d != 0) {
			t.Fatalf("attempt %d: NextRetryDelay %s, want at least %s", attempt+1, d, min)
		}
		var last activities.TransferProgress
		if err := f.lastHeartbeat.Get(&last); err != nil {
			t.Fatal(err)
		}
		f.env.SetHeartbeatDetails(last)
	}

	f.gcsProxy.next = gcsDenying{}
	_, err := f.transfer(f.input(contract.KindVideo, "/v.mp4", "denied"))
	if typ, final := failure(t, err); typ != contract.BucketInaccessible || !final {
		t.Fatalf("with GCS answering 403: %v, want a non-retryable %s", err, contract.BucketInaccessible)
	}
}

// gcsDenying answers every GCS request 403, as GCS does for a worker whose
// service account lost its role on the bucket.
type gcsDenying struct{}

func (gcsDenying) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	writeGCSError(w, http.StatusForbidden)
}

// The whole workflow against an origin whose body always ends at the same
// byte: after two attempts 2 s apart, it waits 30 minutes between attempts
// (about 50 downloads in a day, not the ~290 of the backoff's 5-minute
// ceiling). The test environment runs at most 10 attempts of an activity:
// they span 4 hours of workflow time, where the backoff alone spends 14
// minutes on them.
//
// Mutation: settle never sets RetryAfter → "10 attempts took 13m30s of
// workflow time".
func TestIdenticalFailuresAreRetriedEveryHalfHour(t *testing.T) {
	f := newFixture(t)
	f.origin.Put("/v.mp4", mediaorigin.File{Body: mediaorigin.Video("day", 300<<10), ContentType: "video/mp4", NoRanges: true, CutAfter: 100 << 10})
	f.origin.Put("/t.png", mediaorigin.File{Body: mediaorigin.Thumbnail("t", 8, 8), ContentType: "image/png"})
	callbacks, _ := recorder(t, http.StatusNoContent, nil)
	f.acts.CallbackURL = callbacks.URL

	env := (&testsuite.WorkflowTestSuite{}).NewTestWorkflowEnvironment()
	env.RegisterActivity(f.acts)
	env.RegisterWorkflow(workflows.IngestVideo)
	start := env.Now()
	env.ExecuteWorkflow(workflows.IngestVideo, workflows.IngestInput{
		Notification: contract.Notification{WochitVideoID: "day", VideoContext: "c", VideoURL: f.originURL + "/v.mp4", ThumbnailURL: f.originURL + "/t.png"},
		ReceivedAt:   start,
	})
	var appErr *temporal.ApplicationError
	if err := env.GetWorkflowError(); !errors.As(err, &appErr) || appErr.Type() != string(contract.IncompleteBody) {
		t.Fatalf("workflow error = %v, want %s", err, contract.IncompleteBody)
	}
	n := f.origin.Stats("/v.mp4").Requests
	if took := env.Now().Sub(start); n != 10 || took < 2*time.Second+8*30*time.Minute {
		t.Fatalf("%d attempts took %s of workflow time; want 10 attempts, the last 8 each 30 minutes after the one before", n, took)
	}
}

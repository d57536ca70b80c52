package activities_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/wochit-ingest/wochit-ingest/contract"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/wochit-ingest/wochit-ingest/devstack/mediaorigin"
	"github.com/wochit-ingest/wochit-ingest/workflows"
)

// What Temporal does with the engine's failures: the delay an origin asks
// for, and the retries of a whole workflow. The engine's own decisions —
// which failure is final, how attempts count — are tested in transfer.

func TestRetryAfterSetsTheNextRetryDelay(t *testing.T) {
	f := newFixture(t)
	f.origin.Put("/v.mp4", mediaorigin.File{Body: []byte("x"), Statuses: []int{503}, RetryAfter: "120"})
	_, err := f.transfer(f.input(contract.KindVideo, "/v.mp4", "ra"))
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) || appErr.NextRetryDelay() != 2*time.Minute || appErr.NonRetryable() {
		t.Fatalf("error = %v, want a retryable error with NextRetryDelay 2m", err)
	}
}

// The whole workflow with the real activities: a video that stays
// unfinished is retried with the workflow's backoff for about ten minutes,
// then the run fails IncompleteMedia with one video.failed callback, and no
// video was ever stored. The test suite itself stops retrying after 10
// attempts — which the backoff puts at 13.5 minutes, exactly where the
// transfer gives up — so the test checks that the transfer gave up on its
// own: the attempt that ended the activity failed final, not retryable.
// (With maxIncompleteWait at 20 minutes, or no limit, it fails retryable
// and this test fails; at 5 minutes the run ends after 8.5 minutes.)
func TestWorkflowGivesUpOnAnUnfinishedVideo(t *testing.T) {
	f := newFixture(t)
	f.origin.Put("/v.mp4", mediaorigin.File{Body: mediaorigin.UnfinishedVideo("never", 300<<10), ContentType: "video/mp4"})
	f.origin.Put("/t.png", mediaorigin.File{Body: mediaorigin.Thumbnail("t", 8, 8), ContentType: "image/png"})
	callbacks, requests := recorder(t, http.StatusNoContent, nil)
	f.acts.CallbackURL = callbacks.URL

	env := (&testsuite.WorkflowTestSuite{}).NewTestWorkflowEnvironment()
	f.acts.Now = env.Now // the retries' backoff runs on the test environment's clock
	env.RegisterActivity(f.acts)
	env.RegisterWorkflow(workflows.IngestVideo)
	started := env.Now()
	var last *temporal.ApplicationError // how the video's transfer ended
	env.SetOnActivityCompletedListener(func(info *activity.Info, _ converter.EncodedValue, err error) {
		var appErr *temporal.ApplicationError
		if info.ActivityType.Name == "TransferToGCS" && errors.As(err, &appErr) {
			last = appErr
		}
	})
	env.ExecuteWorkflow(workflows.IngestVideo, workflows.IngestInput{
		Notification: contract.Notification{WochitVideoID: "never", VideoContext: "c", VideoURL: f.originURL + "/v.mp4", ThumbnailURL: f.originURL + "/t.png"},
		ReceivedAt:   started,
	})
	var appErr *temporal.ApplicationError
	if err := env.GetWorkflowError(); !errors.As(err, &appErr) || appErr.Type() != string(contract.IncompleteMedia) {
		t.Fatalf("workflow error = %v, want %s", err, contract.IncompleteMedia)
	}
	attempts := f.origin.Stats("/v.mp4").Requests
	t.Logf("the video was tried %d times over %s", attempts, env.Now().Sub(started))
	// README: final once 10 minutes have passed since an attempt first found
	// it unfinished, "in practice after 10 to 14 minutes" (the backoff, 2 s
	// doubling to 5 min, puts the deciding attempt at 13.5 min).
	if took := env.Now().Sub(started); attempts < 5 || took < 10*time.Minute || took > 14*time.Minute {
		t.Fatalf("the video was tried %d times over %s; want it given up after 10 to 14 minutes, as README says", attempts, took)
	}
	if last == nil || last.Type() != string(contract.IncompleteMedia) || !last.NonRetryable() {
		t.Fatalf("the video's transfer ended with %v; want a final IncompleteMedia of its own, not the test suite's retry limit", last)
	}
	if got := requests(); len(got) != 1 || !strings.Contains(string(got[0].body), `"reason":"IncompleteMedia"`) {
		t.Fatalf("callbacks = %d, want one video.failed with reason IncompleteMedia", len(got))
	}
	if objs := f.objects("videos/never/video"); len(objs) != 0 {
		t.Fatalf("a video was stored: %v", objs)
	}
}

// The whole workflow with the real activities: an origin that refuses the
// request with a 4xx other than 404/408/410/425/429 — a 401/403 before the
// link's expiry (OriginDenied), or 400, 405, 414… (OriginRejected) — is
// retried a few times, not until the 24-hour deadline, then video.failed.
func TestOriginRefusalsAreRetriedOnlyAFewTimes(t *testing.T) {
	for _, tt := range []struct {
		status int
		reason contract.Reason
	}{
		{http.StatusForbidden, contract.OriginDenied},
		{http.StatusUnauthorized, contract.OriginDenied},
		{http.StatusBadRequest, contract.OriginRejected},
		{http.StatusMethodNotAllowed, contract.OriginRejected},
		{http.StatusRequestURITooLong, contract.OriginRejected},
	} {
		t.Run(http.StatusText(tt.status), func(t *testing.T) {
			f := newFixture(t)
			statuses := []int{tt.status, tt.status, tt.status, tt.status, tt.status, tt.status}
			f.origin.Put("/v.mp4", mediaorigin.File{Body: []byte("x"), Statuses: statuses})
			f.origin.Put("/t.png", mediaorigin.File{Body: mediaorigin.Thumbnail("t", 8, 8), ContentType: "image/png"})
			callbacks, requests := recorder(t, http.StatusNoContent, nil)
			f.acts.CallbackURL = callbacks.URL

			env := (&testsuite.WorkflowTestSuite{}).NewTestWorkflowEnvironment()
			env.RegisterActivity(f.acts)
			env.RegisterWorkflow(workflows.IngestVideo)
			env.ExecuteWorkflow(workflows.IngestVideo, workflows.IngestInput{
				Notification: contract.Notification{WochitVideoID: "refused", VideoContext: "c", VideoURL: f.originURL + "/v.mp4", ThumbnailURL: f.originURL + "/t.png"},
				ReceivedAt:   time.Now(),
			})
			var appErr *temporal.ApplicationError
			if err := env.GetWorkflowError(); !errors.As(err, &appErr) || appErr.Type() != string(tt.reason) {
				t.Fatalf("workflow error = %v, want %s", err, tt.reason)
			}
			if n := f.origin.Stats("/v.mp4").Requests; n != 3 {
				t.Fatalf("origin saw %d requests for the video, want 3", n)
			}
			if got := requests(); len(got) != 1 || !strings.Contains(string(got[0].body), `"reason":"`+string(tt.reason)+`"`) {
				t.Fatalf("callbacks = %d, want one video.failed with reason %s", len(got), tt.reason)
			}
		})
	}
}

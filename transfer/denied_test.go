package activities_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/wochit-ingest/wochit-ingest/contract"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/wochit-ingest/wochit-ingest/devstack/mediaorigin"
	"github.com/wochit-ingest/wochit-ingest/workflows"
)

func TestAccessDeniedAfterTheLinkExpiredIsFinal(t *testing.T) {
	f := newFixture(t)
	body := mediaorigin.Video("exp", 500<<10)
	// The first request is cut mid-way; afterwards the link is expired and
	// the origin answers 403.
	f.origin.Put("/v.mp4", mediaorigin.File{Body: body, ContentType: "video/mp4", NoRanges: true, CutAfter: 100 << 10, CutTimes: 1,
		Statuses: []int{0, 403, 403, 403}})
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	f.acts.Now = func() time.Time { return now }
	in := f.input(contract.KindVideo, "/v.mp4", "exp")
	in.LinkExpiresAt = now.Add(time.Minute)

	_, err := f.transfer(in)
	if typ, final := failure(t, err); typ != contract.IncompleteBody || final {
		t.Fatalf("first attempt: %v, want a retryable %s", err, contract.IncompleteBody)
	}
	now = now.Add(2 * time.Minute) // the link has expired
	_, errs := f.attempts(in, 10)
	if len(errs) != 1 {
		t.Fatalf("after expiry %d attempts ran (%v), want 1", len(errs), errs)
	}
	if typ, final := failure(t, errs[0]); typ != contract.LinkExpired || !final {
		t.Fatalf("error = %v, want a non-retryable %s", errs[0], contract.LinkExpired)
	}
	if n := f.origin.Stats("/v.mp4").Requests; n != 2 {
		t.Fatalf("origin saw %d requests, want 2 (no retry storm)", n)
	}
	f.assertNothingStored("exp")
}

func TestAccessDeniedBeforeExpiryIsRetried(t *testing.T) {
	f := newFixture(t)
	f.origin.Put("/v.mp4", mediaorigin.File{Body: []byte("x"), Statuses: []int{403}})
	in := f.input(contract.KindVideo, "/v.mp4", "deny")
	in.LinkExpiresAt = time.Now().Add(time.Hour)
	_, err := f.transfer(in)
	if typ, final := failure(t, err); typ != contract.OriginDenied || final {
		t.Fatalf("error = %v, want a retryable %s", err, contract.OriginDenied)
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

package activities_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/wochit-ingest/wochit-ingest/contract"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/wochit-ingest/wochit-ingest/activities"
	"github.com/wochit-ingest/wochit-ingest/devstack/mediaorigin"
	"github.com/wochit-ingest/wochit-ingest/workflows"
)

// A worker runs only its share of transfers from one origin host at once: a
// transfer beyond it is turned away at once — no request to the origin, no
// slot held — with a retryable OriginHostBusy that comes back in 10–20 s,
// while other hosts and the other kind of file go ahead.
//
// Mutation: drop takeHostSlot from TransferToGCS → "second video from the
// busy host: error <nil>, want a retryable OriginHostBusy".
func TestOneHostCannotTakeEverySlot(t *testing.T) {
	f := newFixture(t)
	f.acts.Transfer.VideoHostSlots = 1
	f.acts.Transfer.ThumbnailHostSlots = 1
	held := mediaorigin.Video("held", 100<<10)
	free := mediaorigin.Video("free", 100<<10)
	f.origin.Put("/held.mp4", mediaorigin.File{Body: held, ContentType: "video/mp4"})
	f.origin.Put("/free.mp4", mediaorigin.File{Body: free, ContentType: "video/mp4"})
	f.origin.Put("/t.png", mediaorigin.File{Body: mediaorigin.Thumbnail("t", 8, 8), ContentType: "image/png"})
	arrived, release := make(chan struct{}), make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/held.mp4" {
			close(arrived)
			select {
			case <-release:
			case <-r.Context().Done():
				return
			}
		}
		f.origin.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(srv.CloseClientConnections) // runs first: a failed test leaves the held request
	input := func(host, path, id string, kind contract.AssetKind) activities.TransferInput {
		return activities.TransferInput{Kind: kind, SourceURL: "http://" + host + path, WochitVideoID: id, VideoContext: "c"}
	}
	host := strings.TrimPrefix(srv.URL, "http://")

	first := make(chan error, 1)
	go func() {
		_, err := f.acts.TransferToGCS(context.Background(), input(host, "/held.mp4", "held", contract.KindVideo))
		first <- err
	}()
	<-arrived

	_, err := f.transfer(input(host, "/free.mp4", "free", contract.KindVideo))
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) || appErr.Type() != string(contract.OriginHostBusy) || appErr.NonRetryable() {
		t.Fatalf("second video from the busy host: error %v, want a retryable %s", err, contract.OriginHostBusy)
	}
	if d := appErr.NextRetryDelay(); d < 10*time.Second || d > 20*time.Second {
		t.Fatalf("turned away with NextRetryDelay %s, want 10–20 s", d)
	}
	if n := f.origin.Stats("/free.mp4").Requests; n != 0 {
		t.Fatalf("the origin saw %d requests for the turned-away transfer", n)
	}
	// Another host (the same server by another name), and a thumbnail.
	if _, err := f.transfer(input(strings.Replace(host, "127.0.0.1", "localhost", 1), "/free.mp4", "other", contract.KindVideo)); err != nil {
		t.Fatalf("a video from another host: %v", err)
	}
	if _, err := f.transfer(input(host, "/t.png", "thumb", contract.KindThumbnail)); err != nil {
		t.Fatalf("a thumbnail from the busy host: %v", err)
	}

	close(release)
	if err := <-first; err != nil {
		t.Fatalf("the held transfer: %v", err)
	}
	res, err := f.transfer(input(host, "/free.mp4", "free", contract.KindVideo))
	if err != nil {
		t.Fatalf("once the host's slot is free: %v", err)
	}
	f.assertStored(res.Object.Name, free)
}

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

	g := newFixtureWith(t, func(http.Handler) http.Handler { return gcsDenying{} })
	g.origin.Put("/v.mp4", mediaorigin.File{Body: body, ContentType: "video/mp4", NoRanges: true, CutAfter: 100 << 10})
	_, err := g.transfer(g.input(contract.KindVideo, "/v.mp4", "denied"))
	if typ, final := failure(t, err); typ != contract.BucketInaccessible || !final {
		t.Fatalf("with GCS answering 403: %v, want a non-retryable %s", err, contract.BucketInaccessible)
	}
}

// gcsDenying answers every GCS request 403, as GCS does for a worker whose
// service account lost its role on the bucket.
type gcsDenying struct{}

func (gcsDenying) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusForbidden)
	fmt.Fprint(w, `{"error":{"code":403,"message":"denied by the test"}}`)
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

// Callback receivers' response headers are capped like origins' (64 KiB):
// a receiver that sends more is not read to the end of them, and the
// attempt is retried on the schedule.
//
// Mutation: drop MaxResponseHeaderBytes from safehttp → "outcome delivered".
func TestCallbackResponseHeadersAreCapped(t *testing.T) {
	f := newFixture(t)
	srv, _ := recorder(t, http.StatusNoContent, map[string]string{"X-Padding": strings.Repeat("a", 100<<10)})
	f.acts.CallbackURL = srv.URL
	res := f.deliver(activities.CallbackInput{WebhookID: "msg_hdr", Event: sampleEvent, Attempt: 1})
	if res.Outcome != activities.AttemptRetry || !strings.Contains(res.Error, "headers") {
		t.Fatalf("outcome %s (%q), want a retry for the oversized headers", res.Outcome, res.Error)
	}
}

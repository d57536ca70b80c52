package devstack_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wochit-ingest/wochit-ingest/contract"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"

	"github.com/wochit-ingest/wochit-ingest/devstack"
	"github.com/wochit-ingest/wochit-ingest/devstack/devstacktest"
	"github.com/wochit-ingest/wochit-ingest/devstack/mediaorigin"
	"github.com/wochit-ingest/wochit-ingest/workflows"
)

// backend is the customer's callback endpoint for these tests. It verifies
// every request with the reference Standard Webhooks library, records it,
// and answers per video as the test says: the endpoint can be down for one
// video and up for another.
type backend struct {
	t   *testing.T
	url string

	mu       sync.Mutex
	requests []callbackRequest
	answer   map[string]func(n int) int // wochitVideoId → status for its n-th request
}

type callbackRequest struct {
	id     string
	event  contract.Event
	status int // what the backend answered
}

func newBackend(t *testing.T) *backend {
	wh, err := standardwebhooks.NewWebhook(devstacktest.Secret)
	if err != nil {
		t.Fatal(err)
	}
	b := &backend{t: t, answer: map[string]func(int) int{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		_, ev, ok := devstacktest.VerifiedEvent(t, wh, w, req)
		if !ok {
			return
		}
		b.mu.Lock()
		n := 1
		for _, r := range b.requests {
			if r.event.Data.WochitVideoID == ev.Data.WochitVideoID {
				n++
			}
		}
		status := http.StatusNoContent
		if answer := b.answer[ev.Data.WochitVideoID]; answer != nil {
			status = answer(n)
		}
		b.requests = append(b.requests, callbackRequest{id: req.Header.Get("webhook-id"), event: ev, status: status})
		b.mu.Unlock()
		w.WriteHeader(status)
	}))
	t.Cleanup(srv.Close)
	b.url = srv.URL + "/hooks"
	return b
}

func (b *backend) set(video string, answer func(n int) int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.answer[video] = answer
}

func always(status int) func(int) int { return func(int) int { return status } }

func (b *backend) of(video string) []callbackRequest {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []callbackRequest
	for _, r := range b.requests {
		if r.event.Data.WochitVideoID == video {
			out = append(out, r)
		}
	}
	return out
}

// oneWebhookID asserts every request for the video carried the same
// webhook-id, and returns it.
func (b *backend) oneWebhookID(t *testing.T, video string) string {
	t.Helper()
	reqs := b.of(video)
	if len(reqs) == 0 {
		t.Fatalf("no callback for %s", video)
	}
	for _, r := range reqs {
		if r.id != reqs[0].id {
			t.Fatalf("callbacks for %s carried webhook-ids %q and %q, want one", video, reqs[0].id, r.id)
		}
	}
	return reqs[0].id
}

// callbackStack is one stack shared by the callback tests: a short schedule
// (four attempts within a second) so exhaustion takes no time.
type callbackStack struct {
	*devstack.Stack
	backend   *backend
	origin    *mediaorigin.Origin
	originURL string
}

var shortSchedule = []time.Duration{0, 200 * time.Millisecond, 200 * time.Millisecond, 200 * time.Millisecond}

// notification serves media for a new video and returns its notification.
func (s *callbackStack) notification(video string) contract.Notification {
	s.origin.Put("/"+video+"/v.mp4", mediaorigin.File{Body: mediaorigin.Video(video, 256<<10), ContentType: "video/mp4"})
	s.origin.Put("/"+video+"/t.png", mediaorigin.File{Body: mediaorigin.Thumbnail(video, 32, 32), ContentType: "image/png"})
	return contract.Notification{
		VideoContext: "ctx-" + video, WochitVideoID: video, Title: "Title of " + video,
		VideoURL: s.originURL + "/" + video + "/v.mp4?token=secret", ThumbnailURL: s.originURL + "/" + video + "/t.png?token=secret",
	}
}

func (s *callbackStack) post(t *testing.T, n contract.Notification) (workflowID, runID string) {
	t.Helper()
	got := postNotification(t, s.IngressURL, map[string]string{
		"videoContext": n.VideoContext, "wochitVideoId": n.WochitVideoID, "title": n.Title,
		"videoUrl": n.VideoURL, "thumbnailUrl": n.ThumbnailURL,
	})
	return got["workflowId"], got["runId"]
}

// start starts a run directly, as the ingress would but with any input.
func (s *callbackStack) start(t *testing.T, in workflows.IngestInput) (workflowID, runID string) {
	t.Helper()
	runID, started, err := workflows.StartIngest(context.Background(), s.Client, workflows.StartOptions{Namespace: devstack.Namespace}, in)
	if err != nil || !started {
		t.Fatalf("starting %s: started=%v, %v", in.Notification.WochitVideoID, started, err)
	}
	return workflows.WorkflowID(in.Notification.WochitVideoID), runID
}

// downloads is how many requests the origin saw for a video's two files.
func (s *callbackStack) downloads(video string) (videoRequests, thumbnailRequests int) {
	return s.origin.Stats("/" + video + "/v.mp4").Requests, s.origin.Stats("/" + video + "/t.png").Requests
}

// wait waits for the run to close and returns its result or failure.
func wait(t *testing.T, c client.Client, workflowID, runID string) (workflows.IngestResult, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var res workflows.IngestResult
	err := c.GetWorkflow(ctx, workflowID, runID).Get(ctx, &res)
	if ctx.Err() != nil {
		t.Fatalf("%s did not close within 2 minutes", workflowID)
	}
	return res, err
}

func reasonOf(err error) contract.Reason {
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		return contract.Reason(appErr.Type())
	}
	return ""
}

// callbackStatus reads the run's CallbackStatus search attribute.
func callbackStatus(t *testing.T, c client.Client, workflowID, runID string) string {
	t.Helper()
	desc, err := c.DescribeWorkflowExecution(context.Background(), workflowID, runID)
	if err != nil {
		t.Fatal(err)
	}
	p := desc.GetWorkflowExecutionInfo().GetSearchAttributes().GetIndexedFields()[workflows.SearchAttrCallbackStatus]
	if p == nil {
		return ""
	}
	var s string
	if err := converter.GetDefaultDataConverter().FromPayload(p, &s); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestCallbacksEndToEnd(t *testing.T) {
	devstacktest.EndToEnd(t)
	origin := mediaorigin.New()
	originServer := httptest.NewServer(origin)
	t.Cleanup(originServer.Close)
	b := newBackend(t)
	stack := startStack(t, t.TempDir(), randomAddrs(), b.url, func(o *devstack.Options) { o.CallbackSchedule = shortSchedule })
	t.Cleanup(func() { stack.Stop(context.Background()) })
	s := &callbackStack{Stack: stack, backend: b, origin: origin, originURL: originServer.URL}

	t.Run("endpoint down, then back: delivered", func(t *testing.T) {
		t.Parallel()
		n := s.notification("cb-back")
		b.set(n.WochitVideoID, func(n int) int {
			if n <= 2 {
				return http.StatusServiceUnavailable
			}
			return http.StatusNoContent
		})
		id, run := s.post(t, n)
		res, err := wait(t, s.Client, id, run)
		if err != nil {
			t.Fatalf("run failed: %v", err)
		}
		var statuses []int
		for _, at := range res.Callback.Attempts {
			statuses = append(statuses, at.StatusCode)
			if at.At.IsZero() || at.Latency <= 0 {
				t.Errorf("attempt %+v lacks its time or latency", at)
			}
		}
		if len(statuses) != 3 || statuses[0] != 503 || statuses[1] != 503 || statuses[2] != 204 {
			t.Fatalf("attempts answered %v, want [503 503 204]", statuses)
		}
		if got := b.oneWebhookID(t, n.WochitVideoID); got != res.Callback.WebhookID {
			t.Fatalf("backend saw webhook-id %s, the run reports %s", got, res.Callback.WebhookID)
		}
		reqs := b.of(n.WochitVideoID)
		checkStored(t, s.GCSURL, reqs[2].event.Data.Video, mediaorigin.Video(n.WochitVideoID, 256<<10))
		if got := callbackStatus(t, s.Client, id, run); got != "delivered" {
			t.Fatalf("CallbackStatus = %q, want delivered", got)
		}
	})

	t.Run("exhausted, then Wochit re-sends the notification: delivered without a second download", func(t *testing.T) {
		t.Parallel()
		n := s.notification("cb-resend")
		b.set(n.WochitVideoID, always(http.StatusServiceUnavailable))
		id, run := s.post(t, n)
		if _, err := wait(t, s.Client, id, run); reasonOf(err) != contract.CallbackExhausted {
			t.Fatalf("first run ended with %v, want %s", err, contract.CallbackExhausted)
		}
		if got := callbackStatus(t, s.Client, id, run); got != "exhausted" {
			t.Fatalf("CallbackStatus = %q, want exhausted", got)
		}
		if got := len(b.of(n.WochitVideoID)); got != len(shortSchedule) {
			t.Fatalf("backend got %d attempts, want the schedule's %d", got, len(shortSchedule))
		}

		b.set(n.WochitVideoID, always(http.StatusOK))
		_, rerun := s.post(t, n) // 202: a failed run may run again
		if _, err := wait(t, s.Client, id, rerun); err != nil {
			t.Fatalf("second run failed: %v", err)
		}
		b.oneWebhookID(t, n.WochitVideoID)
		if v, th := s.downloads(n.WochitVideoID); v != 1 || th != 1 {
			t.Fatalf("origin served the video %d and the thumbnail %d times, want once each", v, th)
		}
	})

	t.Run("redeliver after exhaustion, past the links' deadline: delivered without a second download", func(t *testing.T) {
		t.Parallel()
		n := s.notification("cb-redeliver")
		b.set(n.WochitVideoID, always(http.StatusServiceUnavailable))
		id, run := s.post(t, n)
		if _, err := wait(t, s.Client, id, run); reasonOf(err) != contract.CallbackExhausted {
			t.Fatalf("first run ended with %v, want %s", err, contract.CallbackExhausted)
		}
		// A day later the callback is still failing and a second run, whose
		// notification is now over 24 hours old, failed too: it got as far as
		// the callback because it reused the stored files.
		_, late := s.start(t, workflows.IngestInput{Notification: n, ReceivedAt: time.Now().Add(-25 * time.Hour).UTC(), CallbackSchedule: shortSchedule})
		if _, err := wait(t, s.Client, id, late); reasonOf(err) != contract.CallbackExhausted {
			t.Fatalf("run after the deadline ended with %v, want %s: it should have reused the stored files", err, contract.CallbackExhausted)
		}

		b.set(n.WochitVideoID, always(http.StatusNoContent))
		got, err := workflows.Redeliver(context.Background(), s.Client, workflows.RedeliverOptions{Namespace: devstack.Namespace}, n.WochitVideoID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Action != workflows.RedeliverRestarted || got.FailedRunID != late || !strings.HasPrefix(got.Failure, string(contract.CallbackExhausted)) {
			t.Fatalf("redeliver = %+v, want a new run replacing %s, which failed %s", got, late, contract.CallbackExhausted)
		}
		res, err := wait(t, s.Client, id, got.RunID)
		if err != nil {
			t.Fatalf("redelivered run failed: %v", err)
		}
		if !res.Callback.Delivered || b.oneWebhookID(t, n.WochitVideoID) != res.Callback.WebhookID {
			t.Fatalf("redelivered run's callback = %+v, want delivered with the same webhook-id", res.Callback)
		}
		reqs := b.of(n.WochitVideoID)
		if last := reqs[len(reqs)-1]; last.status != http.StatusNoContent || last.event.Type != contract.VideoStored {
			t.Fatalf("last callback = %+v, want a delivered video.stored", last)
		}
		if v, th := s.downloads(n.WochitVideoID); v != 1 || th != 1 {
			t.Fatalf("origin served the video %d and the thumbnail %d times, want once each", v, th)
		}

		again, err := workflows.Redeliver(context.Background(), s.Client, workflows.RedeliverOptions{Namespace: devstack.Namespace}, n.WochitVideoID)
		if err != nil || again.Action != workflows.RedeliverAlreadyDelivered || again.Callback.WebhookID != res.Callback.WebhookID {
			t.Fatalf("second redeliver = %+v, %v; want already delivered", again, err)
		}
	})

	t.Run("redeliver signal cuts a long wait short", func(t *testing.T) {
		t.Parallel()
		n := s.notification("cb-signal")
		b.set(n.WochitVideoID, always(http.StatusServiceUnavailable))
		id, run := s.start(t, workflows.IngestInput{Notification: n, ReceivedAt: time.Now().UTC(), CallbackSchedule: []time.Duration{0, time.Hour}})
		devstacktest.WaitFor(t, time.Minute, "the first attempt to fail", func() bool { return len(b.of(n.WochitVideoID)) == 1 })
		devstacktest.WaitFor(t, 30*time.Second, "CallbackStatus retrying", func() bool { return callbackStatus(t, s.Client, id, run) == "retrying" })
		v, err := s.Client.QueryWorkflow(context.Background(), id, run, workflows.StatusQuery)
		if err != nil {
			t.Fatal(err)
		}
		var status workflows.Status
		if err := v.Get(&status); err != nil {
			t.Fatal(err)
		}
		if status.Callback.State != workflows.CallbackRetrying || len(status.Callback.Attempts) != 1 ||
			status.Callback.Attempts[0].StatusCode != http.StatusServiceUnavailable || status.Callback.NextAttemptAt.Before(time.Now().Add(50*time.Minute)) {
			t.Fatalf("status = %+v, want retrying after one 503, next attempt in about an hour", status.Callback)
		}

		b.set(n.WochitVideoID, always(http.StatusNoContent))
		got, err := workflows.Redeliver(context.Background(), s.Client, workflows.RedeliverOptions{Namespace: devstack.Namespace}, n.WochitVideoID)
		if err != nil || got.Action != workflows.RedeliverSignalled || got.RunID != run {
			t.Fatalf("redeliver = %+v, %v; want the open run signalled", got, err)
		}
		res, err := wait(t, s.Client, id, run)
		if err != nil || len(res.Callback.Attempts) != 2 {
			t.Fatalf("run ended with %v after %d attempts, want delivered on attempt 2", err, len(res.Callback.Attempts))
		}
	})

	t.Run("after the deadline without stored files: LinkExpired, origin untouched", func(t *testing.T) {
		t.Parallel()
		n := s.notification("cb-expired")
		id, run := s.start(t, workflows.IngestInput{Notification: n, ReceivedAt: time.Now().Add(-25 * time.Hour).UTC(), CallbackSchedule: shortSchedule})
		if _, err := wait(t, s.Client, id, run); reasonOf(err) != contract.LinkExpired {
			t.Fatalf("run ended with %v, want %s", err, contract.LinkExpired)
		}
		reqs := b.of(n.WochitVideoID)
		if len(reqs) != 1 || reqs[0].event.Type != contract.VideoFailed || reqs[0].event.Data.Reason != contract.LinkExpired {
			t.Fatalf("callbacks = %+v, want one video.failed with reason %s", reqs, contract.LinkExpired)
		}
		if v, th := s.downloads(n.WochitVideoID); v != 0 || th != 0 {
			t.Fatalf("origin saw %d and %d requests after the deadline, want none", v, th)
		}
	})
}

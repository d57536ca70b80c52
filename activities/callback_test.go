package activities_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wochit-ingest/wochit-ingest/contract"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/wochit-ingest/wochit-ingest/activities"
	"github.com/wochit-ingest/wochit-ingest/internal/safehttp"
	"github.com/wochit-ingest/wochit-ingest/internal/webhook"
)

type capturedRequest struct {
	header http.Header
	body   []byte
}

// recorder is a callback endpoint answering with a fixed status.
func recorder(t *testing.T, status int, header map[string]string) (*httptest.Server, func() []capturedRequest) {
	var mu sync.Mutex
	var got []capturedRequest
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, capturedRequest{r.Header.Clone(), body})
		mu.Unlock()
		for k, v := range header {
			w.Header().Set(k, v)
		}
		w.WriteHeader(status)
	}))
	t.Cleanup(srv.Close)
	return srv, func() []capturedRequest { mu.Lock(); defer mu.Unlock(); return append([]capturedRequest(nil), got...) }
}

func (f *fixture) deliver(in activities.CallbackInput) activities.CallbackAttempt {
	f.t.Helper()
	v, err := f.env.ExecuteActivity(f.acts.DeliverCallback, in)
	if err != nil {
		f.t.Fatalf("DeliverCallback: %v", err)
	}
	var res activities.CallbackAttempt
	if err := v.Get(&res); err != nil {
		f.t.Fatal(err)
	}
	return res
}

var sampleEvent = contract.Event{
	Type:      contract.VideoStored,
	Timestamp: time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC),
	Data: contract.EventData{
		WochitVideoID: "vid-1", VideoContext: "ctx", Title: "Title", WorkflowID: "wochit-video-vid-1",
		Video:     &contract.StoredObject{Bucket: "b", Name: "videos/vid-1/video.mp4", URI: "gs://b/videos/vid-1/video.mp4", Size: 3, ContentType: "video/mp4", CRC32C: "AAAAAA==", MD5: "x"},
		Thumbnail: &contract.StoredObject{Bucket: "b", Name: "videos/vid-1/thumbnail.png", URI: "gs://b/videos/vid-1/thumbnail.png", Size: 1, ContentType: "image/png", CRC32C: "AAAAAA=="},
	},
}

func TestDeliverCallbackSignsPerStandardWebhooks(t *testing.T) {
	f := newFixture(t)
	srv, requests := recorder(t, http.StatusNoContent, nil)
	f.acts.CallbackURL = srv.URL + "/hooks"

	res := f.deliver(activities.CallbackInput{WebhookID: "msg_abc", Event: sampleEvent, Attempt: 1})
	if res.Outcome != activities.AttemptDelivered || res.StatusCode != http.StatusNoContent {
		t.Fatalf("attempt = %+v, want delivered with 204", res)
	}
	got := requests()
	if len(got) != 1 {
		t.Fatalf("endpoint got %d requests, want 1", len(got))
	}
	// Verified by the reference implementation, not by our own code.
	wh, err := standardwebhooks.NewWebhook(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	if err := wh.Verify(got[0].body, got[0].header); err != nil {
		t.Fatalf("reference library rejects our signature: %v", err)
	}
	if id := got[0].header.Get("webhook-id"); id != "msg_abc" {
		t.Errorf("webhook-id = %q, want msg_abc", id)
	}
	var ev contract.Event
	if err := json.Unmarshal(got[0].body, &ev); err != nil || ev.Type != "video.stored" || ev.Data.Video.URI != sampleEvent.Data.Video.URI {
		t.Errorf("body = %s, want the event as JSON", got[0].body)
	}
	// A tampered body must not verify.
	if err := wh.Verify(append(got[0].body, ' '), got[0].header); err == nil {
		t.Error("reference library accepted a tampered body")
	}
}

func TestDeliverCallbackClassifiesResponses(t *testing.T) {
	tests := []struct {
		name           string
		status         int
		header         map[string]string
		wantOutcome    activities.AttemptOutcome
		wantRetryAfter time.Duration
	}{
		{"200", http.StatusOK, nil, activities.AttemptDelivered, 0},
		{"302 is not followed", http.StatusFound, map[string]string{"Location": "/elsewhere"}, activities.AttemptRetry, 0},
		{"307 is not followed", http.StatusTemporaryRedirect, map[string]string{"Location": "/elsewhere"}, activities.AttemptRetry, 0},
		{"308 is not followed", http.StatusPermanentRedirect, map[string]string{"Location": "/elsewhere"}, activities.AttemptRetry, 0},
		{"404 rejected", http.StatusNotFound, nil, activities.AttemptRejected, 0},
		{"500 retried", http.StatusInternalServerError, nil, activities.AttemptRetry, 0},
		{"410 gone", http.StatusGone, nil, activities.AttemptGone, 0},
		{"400 rejected", http.StatusBadRequest, nil, activities.AttemptRejected, 0},
		{"401 rejected", http.StatusUnauthorized, nil, activities.AttemptRejected, 0},
		{"408 retried", http.StatusRequestTimeout, nil, activities.AttemptRetry, 0},
		{"429 with Retry-After", http.StatusTooManyRequests, map[string]string{"Retry-After": "120"}, activities.AttemptRetry, 2 * time.Minute},
		{"503 retried", http.StatusServiceUnavailable, nil, activities.AttemptRetry, 0},
		{"503 with Retry-After", http.StatusServiceUnavailable, map[string]string{"Retry-After": "3600"}, activities.AttemptRetry, time.Hour},
		{"429 with a bad Retry-After", http.StatusTooManyRequests, map[string]string{"Retry-After": "soon"}, activities.AttemptRetry, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			srv, requests := recorder(t, tt.status, tt.header)
			f.acts.CallbackURL = srv.URL + "/hooks"
			res := f.deliver(activities.CallbackInput{WebhookID: "msg_1", Event: sampleEvent, Attempt: 1})
			if res.Outcome != tt.wantOutcome || res.StatusCode != tt.status || res.RetryAfter != tt.wantRetryAfter {
				t.Fatalf("attempt = %+v, want outcome %s, status %d, retryAfter %s", res, tt.wantOutcome, tt.status, tt.wantRetryAfter)
			}
			if n := len(requests()); n != 1 {
				t.Fatalf("endpoint got %d requests, want exactly 1 (no redirect followed, no retry inside the activity)", n)
			}
		})
	}
}

func TestDeliverCallbackCutsAHangingEndpoint(t *testing.T) {
	f := newFixture(t)
	release := make(chan struct{})
	defer close(release)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.ReadAll(r.Body) // after the body, the server notices the client hanging up
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	f.acts.CallbackURL = srv.URL
	f.acts.Callback = safehttp.NewClient(localPolicy, safehttp.ClientOptions{Timeout: 200 * time.Millisecond})

	res := f.deliver(activities.CallbackInput{WebhookID: "msg_1", Event: sampleEvent, Attempt: 1})
	if res.Outcome != activities.AttemptRetry || res.Error == "" {
		t.Fatalf("attempt = %+v, want a retry with an error", res)
	}
	if res.Latency > 5*time.Second {
		t.Fatalf("attempt took %s; the timeout did not cut it", res.Latency)
	}
}

// Two attempts of one delivery: the same webhook-id, but each carries the
// time it was made, and its signature covers that time.
func TestDeliverCallbackSignsEachAttemptAfresh(t *testing.T) {
	f := newFixture(t)
	srv, requests := recorder(t, http.StatusServiceUnavailable, nil)
	f.acts.CallbackURL = srv.URL
	clock := time.Now()
	f.acts.Now = func() time.Time { now := clock; clock = clock.Add(time.Minute); return now }

	first := f.deliver(activities.CallbackInput{WebhookID: "msg_same", Event: sampleEvent, Attempt: 1})
	second := f.deliver(activities.CallbackInput{WebhookID: "msg_same", Event: sampleEvent, Attempt: 2})
	got := requests()
	if len(got) != 2 {
		t.Fatalf("endpoint got %d requests, want 2", len(got))
	}
	wh, err := standardwebhooks.NewWebhook(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	for i, attempt := range []activities.CallbackAttempt{first, second} {
		h := got[i].header
		if id := h.Get("webhook-id"); id != "msg_same" {
			t.Errorf("attempt %d: webhook-id = %q, want msg_same", i+1, id)
		}
		if ts, want := h.Get("webhook-timestamp"), strconv.FormatInt(attempt.At.Unix(), 10); ts != want {
			t.Errorf("attempt %d: webhook-timestamp = %s, want %s (the attempt's own time)", i+1, ts, want)
		}
		if err := wh.Verify(got[i].body, h); err != nil {
			t.Errorf("attempt %d: reference library rejects it: %v", i+1, err)
		}
	}
	if !second.At.After(first.At) || got[0].header.Get("webhook-timestamp") == got[1].header.Get("webhook-timestamp") {
		t.Fatalf("both attempts carry the same timestamp %s", got[0].header.Get("webhook-timestamp"))
	}
	if got[0].header.Get("webhook-signature") == got[1].header.Get("webhook-signature") {
		t.Fatal("both attempts carry the same signature; the second was not signed afresh")
	}
	if !bytes.Equal(got[0].body, got[1].body) {
		t.Fatalf("the body changed between attempts:\n%s\n%s", got[0].body, got[1].body)
	}
}

// During a rotation every configured secret signs: a receiver holding either
// the old or the new secret accepts the delivery.
func TestDeliverCallbackSignsWithEverySecret(t *testing.T) {
	f := newFixture(t)
	srv, requests := recorder(t, http.StatusOK, nil)
	f.acts.CallbackURL = srv.URL
	const newSecret = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"
	secrets, err := webhook.ParseSecrets(newSecret + " " + testSecret)
	if err != nil {
		t.Fatal(err)
	}
	if f.acts.Signer, err = webhook.NewSigner(secrets...); err != nil {
		t.Fatal(err)
	}
	f.deliver(activities.CallbackInput{WebhookID: "msg_rot", Event: sampleEvent, Attempt: 1})
	got := requests()[0]
	if sigs := strings.Fields(got.header.Get("webhook-signature")); len(sigs) != 2 {
		t.Fatalf("webhook-signature = %q, want two v1 signatures", got.header.Get("webhook-signature"))
	}
	for _, s := range []string{newSecret, testSecret} {
		wh, err := standardwebhooks.NewWebhook(s)
		if err != nil {
			t.Fatal(err)
		}
		if err := wh.Verify(got.body, got.header); err != nil {
			t.Errorf("a receiver holding %.12s… rejects the delivery: %v", s, err)
		}
	}
}

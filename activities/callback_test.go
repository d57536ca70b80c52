package activities_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"wochit-ingest/activities"
	"wochit-ingest/internal/safehttp"
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

var sampleEvent = activities.Event{
	Type:      activities.EventVideoStored,
	Timestamp: time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC),
	Data: activities.EventData{
		WochitVideoID: "vid-1", VideoContext: "ctx", Title: "Title", WorkflowID: "wochit-video-vid-1",
		Video:     &activities.StoredObject{Bucket: "b", Name: "videos/vid-1/video.mp4", URI: "gs://b/videos/vid-1/video.mp4", Size: 3, ContentType: "video/mp4", CRC32C: "AAAAAA==", MD5: "x"},
		Thumbnail: &activities.StoredObject{Bucket: "b", Name: "videos/vid-1/thumbnail.png", URI: "gs://b/videos/vid-1/thumbnail.png", Size: 1, ContentType: "image/png", CRC32C: "AAAAAA=="},
	},
}

func TestDeliverCallbackSignsPerStandardWebhooks(t *testing.T) {
	f := newFixture(t)
	srv, requests := recorder(t, http.StatusNoContent, nil)
	f.acts.CallbackURL = srv.URL + "/hooks"

	res := f.deliver(activities.CallbackInput{WebhookID: "msg_abc", Event: sampleEvent, Attempt: 1})
	if res.Outcome != activities.CallbackDelivered || res.StatusCode != http.StatusNoContent {
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
	var ev activities.Event
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
		wantOutcome    activities.CallbackOutcome
		wantRetryAfter time.Duration
	}{
		{"200", http.StatusOK, nil, activities.CallbackDelivered, 0},
		{"302 is not followed", http.StatusFound, map[string]string{"Location": "/elsewhere"}, activities.CallbackRetry, 0},
		{"410 gone", http.StatusGone, nil, activities.CallbackGone, 0},
		{"400 rejected", http.StatusBadRequest, nil, activities.CallbackRejected, 0},
		{"401 rejected", http.StatusUnauthorized, nil, activities.CallbackRejected, 0},
		{"408 retried", http.StatusRequestTimeout, nil, activities.CallbackRetry, 0},
		{"429 with Retry-After", http.StatusTooManyRequests, map[string]string{"Retry-After": "120"}, activities.CallbackRetry, 2 * time.Minute},
		{"503 retried", http.StatusServiceUnavailable, nil, activities.CallbackRetry, 0},
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
	if res.Outcome != activities.CallbackRetry || res.Error == "" {
		t.Fatalf("attempt = %+v, want a retry with an error", res)
	}
	if res.Latency > 5*time.Second {
		t.Fatalf("attempt took %s; the timeout did not cut it", res.Latency)
	}
}

package activities_test

import (
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/wochit-ingest/wochit-ingest/activities"
	"github.com/wochit-ingest/wochit-ingest/contract"
	"github.com/wochit-ingest/wochit-ingest/devstack/mediaorigin"
)

// histogram reads one series of a histogram vector.
func histogram(t *testing.T, vec *prometheus.HistogramVec, labels ...string) *dto.Histogram {
	t.Helper()
	var m dto.Metric
	if err := vec.WithLabelValues(labels...).(prometheus.Metric).Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetHistogram()
}

// Each callback attempt is counted by event and outcome, with its latency.
// Mutation: drop the deferred a.Metrics.callbackAttempt in DeliverCallback —
// every count below stays 0.
func TestCallbackAttemptsAreCounted(t *testing.T) {
	f := newFixture(t)
	f.acts.Metrics = activities.NewMetrics(prometheus.NewRegistry())
	answers := []int{http.StatusNoContent, http.StatusServiceUnavailable, http.StatusGone, http.StatusBadRequest}
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(answers[int(n.Add(1))-1])
	}))
	t.Cleanup(srv.Close)
	f.acts.CallbackURL = srv.URL

	failed := sampleEvent
	failed.Type = contract.VideoFailed
	f.deliver(activities.CallbackInput{WebhookID: "msg_1", Event: sampleEvent, Attempt: 1})
	f.deliver(activities.CallbackInput{WebhookID: "msg_2", Event: failed, Attempt: 1})
	f.deliver(activities.CallbackInput{WebhookID: "msg_2", Event: failed, Attempt: 2})
	f.deliver(activities.CallbackInput{WebhookID: "msg_3", Event: sampleEvent, Attempt: 1})

	m := f.acts.Metrics
	for _, c := range []struct {
		event   contract.EventType
		outcome activities.AttemptOutcome
		want    float64
	}{
		{contract.VideoStored, activities.AttemptDelivered, 1},
		{contract.VideoFailed, activities.AttemptRetry, 1},
		{contract.VideoFailed, activities.AttemptGone, 1},
		{contract.VideoStored, activities.AttemptRejected, 1},
		{contract.VideoStored, activities.AttemptRetry, 0},
		{contract.VideoFailed, activities.AttemptDelivered, 0},
	} {
		if got := testutil.ToFloat64(m.CallbackAttempts.WithLabelValues(activities.EventLabel(c.event), string(c.outcome))); got != c.want {
			t.Errorf("wochit_callback_attempts_total{event=%q,outcome=%q} = %v, want %v", activities.EventLabel(c.event), c.outcome, got, c.want)
		}
	}
	if h := histogram(t, m.CallbackDuration, "stored", string(activities.AttemptDelivered)); h.GetSampleCount() != 1 || h.GetSampleSum() <= 0 {
		t.Errorf("callback duration: %d samples, sum %v; want one positive latency", h.GetSampleCount(), h.GetSampleSum())
	}
	// An unreachable endpoint is an attempt too (retry).
	srv.Close()
	f.deliver(activities.CallbackInput{WebhookID: "msg_4", Event: sampleEvent, Attempt: 1})
	if got := testutil.ToFloat64(m.CallbackAttempts.WithLabelValues("stored", string(activities.AttemptRetry))); got != 1 {
		t.Errorf("unreachable endpoint: retry count = %v, want 1", got)
	}
}

// A stored file records how long before its link's expiry it was stored; a
// reused copy does not, and attempts are labelled stored, reused or the
// failure's reason. Mutation: drop the a.Metrics.stored call in
// TransferToGCS — the headroom histogram stays empty ("0 samples").
func TestTransferHeadroomAndOutcomes(t *testing.T) {
	f := newFixture(t)
	f.acts.Metrics = activities.NewMetrics(prometheus.NewRegistry())
	f.origin.Put("/v.mp4", mediaorigin.File{Body: mediaorigin.Video("headroom", 100<<10), ContentType: "video/mp4"})

	in := f.input(contract.KindVideo, "/v.mp4", "headroom")
	in.LinkExpiresAt = time.Now().Add(3 * time.Hour)
	if _, err := f.transfer(in); err != nil {
		t.Fatal(err)
	}
	if res, err := f.transfer(in); err != nil || !res.Reused {
		t.Fatalf("second transfer = %+v, %v; want the copy reused", res, err)
	}
	missing := f.input(contract.KindVideo, "/missing.mp4", "headroom-404")
	missing.LinkExpiresAt = in.LinkExpiresAt
	if _, err := f.transfer(missing); err == nil {
		t.Fatal("a 404 origin was stored")
	}

	m := f.acts.Metrics
	h := histogram(t, m.Headroom, string(contract.KindVideo))
	if h.GetSampleCount() != 1 {
		t.Fatalf("headroom: %d samples, want 1 (the stored copy; not the reused one, not the failure)", h.GetSampleCount())
	}
	if sum := h.GetSampleSum(); sum > (3*time.Hour).Seconds() || sum < (3*time.Hour-time.Minute).Seconds() {
		t.Errorf("headroom = %vs, want just under 3 h", sum)
	}
	for outcome, want := range map[string]float64{"stored": 1, "reused": 1, string(contract.OriginNotFound): 1} {
		if got := testutil.ToFloat64(m.Transfers.WithLabelValues("video", outcome)); got != want {
			t.Errorf("wochit_transfers_total{kind=video,outcome=%s} = %v, want %v", outcome, got, want)
		}
	}
}

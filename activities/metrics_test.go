package activities_test

import (
	"crypto/md5"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/wochit-ingest/wochit-ingest/contract"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/wochit-ingest/wochit-ingest/activities"
	"github.com/wochit-ingest/wochit-ingest/devstack/mediaorigin"
)

// TransferToGCS feeds the worker's metrics: the bytes read from origins,
// every attempt by its outcome (stored, reused, or the failure's type), and
// each integrity failure the engine reports — here, bytes that do not match
// the Content-MD5 their origin declared.
//
// Mutations: transferOptions without IntegrityFailure → "integrity failures
// of videos = 0, want 1"; without CountBytes → "bytes read for thumbnails =
// 0"; outcomeOf always "stored" → "reused thumbnails = 0".
func TestTransferMetrics(t *testing.T) {
	f := newFixture(t)
	f.acts.Metrics = activities.NewMetrics(prometheus.NewRegistry())
	thumb := mediaorigin.Thumbnail("metrics", 16, 16)
	f.origin.Put("/t.png", mediaorigin.File{Body: thumb, ContentType: "image/png"})
	for range 2 { // stored, then reused
		if _, err := f.transfer(f.input(contract.KindThumbnail, "/t.png", "metrics")); err != nil {
			t.Fatal(err)
		}
	}
	f.origin.Put("/v.mp4", mediaorigin.File{Body: mediaorigin.Video("metrics", 100<<10), ContentType: "video/mp4", NoRanges: true})
	wrong := md5.Sum([]byte("another file"))
	lying := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-MD5", base64.StdEncoding.EncodeToString(wrong[:]))
		f.origin.ServeHTTP(w, r)
	}))
	t.Cleanup(lying.Close)
	_, err := f.transfer(activities.TransferInput{Kind: contract.KindVideo, SourceURL: lying.URL + "/v.mp4", WochitVideoID: "metrics"})
	if reason, final := failure(t, err); reason != contract.IntegrityMismatch || final {
		t.Fatalf("error = %v, want a retryable %s", err, contract.IntegrityMismatch)
	}

	m := f.acts.Metrics
	for _, c := range []struct {
		what      string
		got, want float64
	}{
		{"bytes read for thumbnails", testutil.ToFloat64(m.Bytes.WithLabelValues("thumbnail")), float64(len(thumb))},
		{"stored thumbnails", testutil.ToFloat64(m.Transfers.WithLabelValues("thumbnail", "stored")), 1},
		{"reused thumbnails", testutil.ToFloat64(m.Transfers.WithLabelValues("thumbnail", "reused")), 1},
		{"videos failed IntegrityMismatch", testutil.ToFloat64(m.Transfers.WithLabelValues("video", string(contract.IntegrityMismatch))), 1},
		{"integrity failures of videos", testutil.ToFloat64(m.IntegrityFailures.WithLabelValues("video")), 1},
	} {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.what, c.got, c.want)
		}
	}
}

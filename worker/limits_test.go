package worker_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/wochit-ingest/wochit-ingest/internal/safehttp"
	"github.com/wochit-ingest/wochit-ingest/worker"
)

// The production wiring applies the per-host share of each queue's slots
// (ORIGIN_HOST_SLOT_PERCENT, at least one slot) and the response header cap
// (OUTBOUND_MAX_HEADER_SIZE) to both the origin and the callback client.
//
// Mutation: NewActivities passes cfg.Transfer without withHostSlots →
// "video host slots 0, want 3"; drop MaxResponseHeaderBytes from the
// callback's ClientOptions → "callback client with a 16 KiB cap: 32 KiB of
// headers accepted".
func TestPerHostSlotsAndHeaderCapAreWired(t *testing.T) {
	for _, tt := range []struct {
		name                  string
		cfg                   worker.Config
		wantVideos, wantThumb int
	}{
		{"defaults", worker.Config{}, 3, 75},
		{"half of 8 and 10", worker.Config{VideoSlots: 8, ActivitySlots: 10, HostSlotPercent: 50}, 4, 5},
		{"at least one", worker.Config{VideoSlots: 1, ActivitySlots: 1, HostSlotPercent: 10}, 1, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.Bucket, tt.cfg.StorageEndpoint = "unused", "http://127.0.0.1:1" // never contacted
			acts, closeDeps, err := worker.NewActivities(context.Background(), tt.cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer closeDeps()
			if got := acts.Transfer; got.VideoHostSlots != tt.wantVideos || got.ThumbnailHostSlots != tt.wantThumb {
				t.Fatalf("video host slots %d, thumbnail host slots %d; want %d and %d", got.VideoHostSlots, got.ThumbnailHostSlots, tt.wantVideos, tt.wantThumb)
			}
		})
	}

	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Padding", strings.Repeat("a", 32<<10))
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	local := safehttp.Policy{AllowPrivate: true, AllowAnyPort: true}
	acts, closeDeps, err := worker.NewActivities(context.Background(), worker.Config{
		Bucket: "unused", StorageEndpoint: "http://127.0.0.1:1", Origins: local, Callbacks: local, MaxResponseHeaderBytes: 16 << 10,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer closeDeps()
	for name, client := range map[string]*http.Client{"origin": acts.Origin, "callback": acts.Callback} {
		resp, err := client.Get(srv.URL)
		if err == nil {
			resp.Body.Close()
			t.Fatalf("%s client with a 16 KiB cap: 32 KiB of headers accepted", name)
		}
	}
}

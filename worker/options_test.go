package worker

import (
	"testing"

	"github.com/wochit-ingest/wochit-ingest/workflows"
)

// Each queue's worker runs a bounded number of activities at once: the light
// queue (thumbnails, callbacks) WORKER_ACTIVITY_SLOTS, not the SDK's 1000, so
// a burst of slow thumbnails cannot pile up in one process; the video queue
// VIDEO_TRANSFER_SLOTS.
func TestWorkerSlotsPerQueue(t *testing.T) {
	tests := []struct {
		name  string
		queue string
		cfg   Config
		want  int
	}{
		{"light queue, default", workflows.TaskQueue, Config{}, DefaultActivitySlots},
		{"light queue, configured", workflows.TaskQueue, Config{ActivitySlots: 7, VideoSlots: 2}, 7},
		{"video queue, default", workflows.VideoTaskQueue, Config{ActivitySlots: 7}, DefaultVideoSlots},
		{"video queue, configured", workflows.VideoTaskQueue, Config{ActivitySlots: 7, VideoSlots: 2}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts, err := workerOptions(tt.queue, tt.cfg)
			if err != nil {
				t.Fatal(err)
			}
			if got := opts.MaxConcurrentActivityExecutionSize; got != tt.want {
				t.Fatalf("MaxConcurrentActivityExecutionSize = %d, want %d", got, tt.want)
			}
		})
	}
	if DefaultActivitySlots != 100 {
		t.Fatalf("DefaultActivitySlots = %d, want the documented 100", DefaultActivitySlots)
	}
	if _, err := workerOptions("nope", Config{}); err == nil {
		t.Fatal("an unknown queue was accepted")
	}
}

package commands

import (
	"io"
	"strings"
	"testing"
	"time"
)

// The progress watchdog, the per-host share of the slots and the response
// header cap are worker settings with the documented defaults, checked at
// start.
func TestWorkerStallSettings(t *testing.T) {
	base := []string{"GCS_BUCKET=b", "CALLBACK_URL=https://example.com/h", "CALLBACK_SECRET=whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "PAYLOAD_KEYS=off"}
	c, err := loadWorker(nil, base, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	w := c.Worker
	if w.Transfer.MinProgress != 64<<10 || w.Transfer.ProgressWindow != 2*time.Minute || w.HostSlotPercent != 75 || w.MaxResponseHeaderBytes != 64<<10 {
		t.Fatalf("defaults: min progress %d, window %s, host slot percent %d, header cap %d",
			w.Transfer.MinProgress, w.Transfer.ProgressWindow, w.HostSlotPercent, w.MaxResponseHeaderBytes)
	}
	c, err = loadWorker([]string{"--min-progress", "1MiB", "--progress-window", "5m", "--origin-host-slot-percent", "50", "--max-header-size", "32KiB"}, base, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	w = c.Worker
	if w.Transfer.MinProgress != 1<<20 || w.Transfer.ProgressWindow != 5*time.Minute || w.HostSlotPercent != 50 || w.MaxResponseHeaderBytes != 32<<10 {
		t.Fatalf("flags not applied: %+v", w)
	}
	for _, bad := range []string{"TRANSFER_MIN_PROGRESS=0", "TRANSFER_PROGRESS_WINDOW=10ms", "ORIGIN_HOST_SLOT_PERCENT=0", "ORIGIN_HOST_SLOT_PERCENT=101", "OUTBOUND_MAX_HEADER_SIZE=1KiB"} {
		name, _, _ := strings.Cut(bad, "=")
		if _, err := loadWorker(nil, append(base, bad), io.Discard); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: err %v, want one naming %s", bad, err, name)
		}
	}
}

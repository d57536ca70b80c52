package workflows_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wochit-ingest/wochit-ingest/workflows"
)

func TestParseCallbackSchedule(t *testing.T) {
	got, err := workflows.ParseCallbackSchedule("0s,5s,5m,30m,2h,5h,10h,10h")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, workflows.DefaultCallbackSchedule) {
		t.Fatalf("the documented default parses to %v, want DefaultCallbackSchedule %v", got, workflows.DefaultCallbackSchedule)
	}
	if got, err := workflows.ParseCallbackSchedule(" 1s , 1m30s,0s "); err != nil || !slices.Equal(got, []time.Duration{time.Second, 90 * time.Second, 0}) {
		t.Fatalf("spaces: got %v, %v", got, err)
	}
	for _, bad := range []string{"", "5s,,5m", "5x", "5", "-1s", strings.Repeat("1s,", 100) + "1s"} {
		if got, err := workflows.ParseCallbackSchedule(bad); err == nil {
			t.Errorf("ParseCallbackSchedule(%q) = %v, want an error", bad, got)
		}
	}
}

func TestFormatCallbackScheduleRoundTrips(t *testing.T) {
	if got, want := workflows.FormatCallbackSchedule(workflows.DefaultCallbackSchedule), "0s,5s,5m,30m,2h,5h,10h,10h"; got != want {
		t.Fatalf("FormatCallbackSchedule(default) = %q, want %q", got, want)
	}
	schedule := []time.Duration{0, 1500 * time.Millisecond, 90 * time.Second, 2*time.Hour + 30*time.Minute, 3*time.Hour + 5*time.Second}
	got, err := workflows.ParseCallbackSchedule(workflows.FormatCallbackSchedule(schedule))
	if err != nil || !slices.Equal(got, schedule) {
		t.Fatalf("round trip of %v = %v, %v", schedule, got, err)
	}
}

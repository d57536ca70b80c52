package metrics

import (
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
)

// The SDK's latencies reach /metrics as histograms (the dashboard and the
// schedule-to-start alert take histogram_quantile over every worker's
// buckets), and a counter a workflow emits keeps its name. Mutation: drop
// DefaultTimerType from SDKHandler and tally exports a summary — the test
// fails with "is SUMMARY, want a histogram".
func TestSDKHandlerExportsHistograms(t *testing.T) {
	reg := NewRegistry()
	h, closer := SDKHandler(reg)
	h.WithTags(map[string]string{"task_queue": "video"}).Timer("temporal_activity_schedule_to_start_latency").Record(3 * time.Second)
	h.WithTags(map[string]string{"outcome": "stored"}).Counter("wochit_ingests_total").Inc(1)
	if err := closer.Close(); err != nil { // flushes the scope
		t.Fatal(err)
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]*dto.MetricFamily{}
	for _, f := range families {
		byName[f.GetName()] = f
	}
	lat := byName["temporal_activity_schedule_to_start_latency"]
	if lat == nil {
		t.Fatal("no temporal_activity_schedule_to_start_latency")
	}
	if lat.GetType() != dto.MetricType_HISTOGRAM {
		t.Fatalf("temporal_activity_schedule_to_start_latency is %s, want a histogram", lat.GetType())
	}
	hist := lat.GetMetric()[0].GetHistogram()
	if hist.GetSampleCount() != 1 || hist.GetSampleSum() != 3 {
		t.Errorf("count %d sum %v, want 1 observation of 3 s", hist.GetSampleCount(), hist.GetSampleSum())
	}
	for _, b := range hist.GetBucket() {
		if b.GetUpperBound() == 2.5 && b.GetCumulativeCount() != 0 || b.GetUpperBound() == 5 && b.GetCumulativeCount() != 1 {
			t.Errorf("bucket le=%v holds %d", b.GetUpperBound(), b.GetCumulativeCount())
		}
	}
	if len(hist.GetBucket()) != len(SDKTimerBuckets) {
		t.Errorf("%d buckets, want %d", len(hist.GetBucket()), len(SDKTimerBuckets))
	}
	c := byName["wochit_ingests_total"]
	if c == nil || c.GetType() != dto.MetricType_COUNTER || c.GetMetric()[0].GetCounter().GetValue() != 1 {
		var names []string
		for n := range byName {
			names = append(names, n)
		}
		t.Fatalf("wochit_ingests_total = %v; families: %s", c, strings.Join(names, " "))
	}
}

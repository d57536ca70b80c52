package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/server/temporaltest"

	"wochit-ingest/ingress"
	"wochit-ingest/workflows"
)

// BenchmarkIngress offers the same open-loop load — notifications at a fixed
// rate, each sent on schedule whether or not earlier ones were answered — to
// our ingress and to a bare net/http handler that decodes the body and makes
// the same StartWorkflowExecution call, both against one embedded Temporal
// server. It reports accepted notifications per second and the p50/p99
// latency (measured from the scheduled send time, so queueing counts) of
// each, and ours/bare. BENCH_INGRESS_RATE sets the offered rate (per second).
func BenchmarkIngress(b *testing.B) {
	rate := 200
	if v, err := strconv.Atoi(os.Getenv("BENCH_INGRESS_RATE")); err == nil {
		rate = v
	}
	const duration = 5 * time.Second
	ts := temporaltest.NewServer()
	defer ts.Stop()
	c, ns := ts.GetDefaultClient(), ts.GetDefaultNamespace()

	ours := httptest.NewServer(ingress.NewServer(ingress.Config{
		Namespace: ns, AllowHTTPURLs: true, MaxConcurrentStarts: 100000,
	}, c))
	defer ours.Close()
	bare := httptest.NewServer(bareHandler(c, ns))
	defer bare.Close()

	round := 0
	var thr, p50r, p99r float64
	var oursRuns, bareRuns []loadResult
	for b.Loop() {
		round++
		// Alternate the order: the server's database grows as runs pile up.
		first, second := bare.URL, ours.URL
		if round%2 == 0 {
			first, second = second, first
		}
		r1 := openLoop(b, first, fmt.Sprintf("r%d-a", round), rate, duration)
		r2 := openLoop(b, second, fmt.Sprintf("r%d-b", round), rate, duration)
		o, bb := r2, r1
		if first == ours.URL {
			o, bb = r1, r2
		}
		oursRuns, bareRuns = append(oursRuns, o), append(bareRuns, bb)
		thr += o.perSecond / bb.perSecond
		p50r += o.p50.Seconds() / bb.p50.Seconds()
		p99r += o.p99.Seconds() / bb.p99.Seconds()
	}
	n := float64(b.N)
	b.ReportMetric(thr/n, "throughput-ratio")
	b.ReportMetric(p50r/n, "p50-ratio")
	b.ReportMetric(p99r/n, "p99-ratio")
	b.ReportMetric(mean(oursRuns, func(r loadResult) float64 { return r.perSecond }), "ours-accepted/s")
	b.ReportMetric(mean(bareRuns, func(r loadResult) float64 { return r.perSecond }), "bare-accepted/s")
	b.ReportMetric(mean(oursRuns, func(r loadResult) float64 { return r.p99.Seconds() * 1000 }), "ours-p99-ms")
	b.ReportMetric(mean(bareRuns, func(r loadResult) float64 { return r.p99.Seconds() * 1000 }), "bare-p99-ms")
}

func mean(rs []loadResult, f func(loadResult) float64) float64 {
	var s float64
	for _, r := range rs {
		s += f(r)
	}
	return s / float64(len(rs))
}

// bareHandler is the baseline: what any webhook-to-Temporal handler must do
// at least — decode the JSON and start the workflow with the same request.
func bareHandler(c client.Client, namespace string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var n workflows.Notification
		if err := json.NewDecoder(r.Body).Decode(&n); err != nil {
			http.Error(w, "bad json", http.StatusBadRequest)
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		defer cancel()
		runID, started, err := ingress.StartIngest(ctx, c, ingress.StartOptions{Namespace: namespace},
			workflows.IngestInput{Notification: n, ReceivedAt: time.Now()})
		if err != nil {
			http.Error(w, "unavailable", http.StatusServiceUnavailable)
			return
		}
		status := http.StatusAccepted
		if !started {
			status = http.StatusOK
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(map[string]string{"workflowId": workflows.WorkflowID(n.WochitVideoID), "runId": runID})
	})
}

type loadResult struct {
	perSecond float64
	p50, p99  time.Duration
}

// openLoop sends rate notifications per second for d, each on its schedule,
// and measures every answer's latency from its scheduled time.
func openLoop(b *testing.B, baseURL, prefix string, rate int, d time.Duration) loadResult {
	b.Helper()
	httpClient := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1000}, Timeout: 30 * time.Second}
	total := int(d.Seconds() * float64(rate))
	interval := time.Second / time.Duration(rate)
	latencies := make([]time.Duration, total)
	var failures int
	var mu sync.Mutex
	var wg sync.WaitGroup
	start := time.Now()
	for i := range total {
		due := start.Add(time.Duration(i) * interval)
		time.Sleep(time.Until(due))
		wg.Add(1)
		go func() {
			defer wg.Done()
			body := fmt.Sprintf(`{"videoContext":"bench","wochitVideoId":"%s-%d","title":"t","videoUrl":"https://media.example.com/%d.mp4","thumbnailUrl":"https://media.example.com/%d.png"}`, prefix, i, i, i)
			resp, err := httpClient.Post(baseURL+"/webhooks/wochit", "application/json", strings.NewReader(body))
			lat := time.Since(due)
			if err == nil {
				resp.Body.Close()
			}
			mu.Lock()
			defer mu.Unlock()
			if err != nil || resp.StatusCode != http.StatusAccepted {
				failures++
				return
			}
			latencies[i] = lat
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if failures > 0 {
		b.Fatalf("%d of %d notifications were not accepted", failures, total)
	}
	slices.Sort(latencies)
	return loadResult{
		perSecond: float64(total) / elapsed.Seconds(),
		p50:       latencies[total/2],
		p99:       latencies[total*99/100],
	}
}

package bench

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wochit-ingest/wochit-ingest/contract"
	xrate "golang.org/x/time/rate"

	"go.temporal.io/sdk/client"
	"go.temporal.io/server/temporaltest"

	"github.com/wochit-ingest/wochit-ingest/ingress"
	"github.com/wochit-ingest/wochit-ingest/workflows"
)

// BenchmarkIngress offers the same open-loop load — notifications at a fixed
// rate, each sent on schedule whether or not earlier ones were answered — to
// our ingress and to a bare net/http handler that decodes the body and makes
// the same StartWorkflowExecution call, both against one embedded Temporal
// server. It reports accepted notifications per second and the p50/p99
// latency (measured from the scheduled send time, so queueing counts) of
// each, and ours/bare. BENCH_INGRESS_RATE sets the offered rate (per second).
// At a rate both sides sustain, accepted/s is the offered rate on both
// (ratio 1.00 by construction): the open loop compares latencies. Capacity
// is compared in a closed loop (closedLoopCapacity): the highest rate each
// side sustains with its p99 latency under capacityP99Bound. Notifications
// not accepted (503s, timeouts: a machine too busy for the offered rate) are
// counted, not fatal. Goal: capacity-ratio ≥ 0.95, p99-ratio ≤ 1.1, and every
// notification accepted by ours.
func BenchmarkIngress(b *testing.B) {
	rate := sized(200, 50)
	if v, err := strconv.Atoi(os.Getenv("BENCH_INGRESS_RATE")); err == nil {
		rate = v
	}
	duration := sized(5*time.Second, time.Second)
	ts := temporaltest.NewServer()
	defer ts.Stop()
	c, ns := ts.GetDefaultClient(), ts.GetDefaultNamespace()

	// Our ingress formats its access and start logs as in production; they
	// go nowhere, so a slow terminal does not count.
	ours := httptest.NewServer(ingress.NewServer(ingress.Config{
		Namespace: ns, AnySource: true, RateLimit: xrate.Inf, AllowHTTPURLs: true, MaxConcurrentStarts: 100000,
		Logger: slog.New(slog.NewJSONHandler(io.Discard, nil)),
	}, c))
	defer ours.Close()
	bare := httptest.NewServer(bareHandler(c, ns))
	defer bare.Close()

	round := 0
	var thr, p50r, p99r, capRatio, oursCap, bareCap float64
	var oursFailed, bareFailed int
	var oursRuns, bareRuns []loadResult
	for b.Loop() {
		oc, bc := closedLoopCapacity(b, ours.URL, bare.URL, fmt.Sprintf("c%d", round))
		if bc > 0 {
			capRatio += oc / bc
		}
		oursCap, bareCap = oursCap+oc, bareCap+bc
		// A-B-B-A, pooled: the server's state changes as runs pile up, and
		// the machine's load drifts; each side gets the same share of both.
		var o, bb []time.Duration
		var oSecs, bSecs float64
		var oN, bN int
		for i, target := range []string{bare.URL, ours.URL, ours.URL, bare.URL} {
			round++
			lat, secs, failed := openLoop(target, fmt.Sprintf("r%d-%d", round, i), rate, duration/2)
			if target == ours.URL {
				o, oSecs, oN, oursFailed = append(o, lat...), oSecs+secs, oN+len(lat), oursFailed+failed
			} else {
				bb, bSecs, bN, bareFailed = append(bb, lat...), bSecs+secs, bN+len(lat), bareFailed+failed
			}
		}
		if oN == 0 || bN == 0 {
			b.Fatalf("no notification was accepted at %d/s (ours %d, bare %d): set a lower BENCH_INGRESS_RATE", rate, oN, bN)
		}
		or, br := summarize(o, float64(oN)/oSecs), summarize(bb, float64(bN)/bSecs)
		oursRuns, bareRuns = append(oursRuns, or), append(bareRuns, br)
		thr += or.perSecond / br.perSecond
		p50r += or.p50.Seconds() / br.p50.Seconds()
		p99r += or.p99.Seconds() / br.p99.Seconds()
	}
	n := float64(b.N)
	b.ReportMetric(thr/n, "throughput-ratio")
	b.ReportMetric(p50r/n, "p50-ratio")
	b.ReportMetric(p99r/n, "p99-ratio")
	b.ReportMetric(mean(oursRuns, func(r loadResult) float64 { return r.perSecond }), "ours-accepted/s")
	b.ReportMetric(mean(bareRuns, func(r loadResult) float64 { return r.perSecond }), "bare-accepted/s")
	b.ReportMetric(mean(oursRuns, func(r loadResult) float64 { return r.p50.Seconds() * 1000 }), "ours-p50-ms")
	b.ReportMetric(mean(bareRuns, func(r loadResult) float64 { return r.p50.Seconds() * 1000 }), "bare-p50-ms")
	b.ReportMetric(mean(oursRuns, func(r loadResult) float64 { return r.p99.Seconds() * 1000 }), "ours-p99-ms")
	b.ReportMetric(mean(bareRuns, func(r loadResult) float64 { return r.p99.Seconds() * 1000 }), "bare-p99-ms")
	b.ReportMetric(float64(oursFailed)/n, "ours-not-accepted")
	b.ReportMetric(float64(bareFailed)/n, "bare-not-accepted")
	b.ReportMetric(capRatio/n, "capacity-ratio")
	b.ReportMetric(oursCap/n, "ours-capacity/s")
	b.ReportMetric(bareCap/n, "bare-capacity/s")
	reportGoal(b, capRatio/n >= 0.95 && p99r/n <= 1.1 && oursFailed == 0)
}

// capacityP99Bound is the latency under which a rate counts as sustained
// (BENCH_INGRESS_P99_MS overrides it). Each request is answered once
// Temporal has persisted the workflow start: a few milliseconds when the
// server keeps up, and the sum of the queueing when it does not; 250 ms
// leaves a shared machine's own jitter (p99 near 90 ms with one sender at a
// load average of 8 on 2 cores) out of the verdict.
var capacityP99Bound = time.Duration(cmp.Or(envInt("BENCH_INGRESS_P99_MS", 0), 250)) * time.Millisecond

// closedLoopCapacity measures the highest rate each side sustains: n
// senders each post the next notification as soon as the previous one is
// answered, for n = 1, 2, 4, …; a level counts while every notification is
// accepted and the p99 latency is under capacityP99Bound, and the search
// stops at the first level where neither side meets that or neither gets
// faster. At each level the sides run bare–ours–ours–bare, pooled, as the
// open loop does. It returns ours and bare in notifications per second.
func closedLoopCapacity(b *testing.B, oursURL, bareURL, prefix string) (ours, bare float64) {
	b.Helper()
	d := sized(time.Second, 250*time.Millisecond)
	maxSenders := sized(128, 4)
	for n, round := 1, 0; n <= maxSenders; n *= 2 {
		var results [2]struct {
			count  int
			secs   float64
			lat    []time.Duration
			failed bool
		}
		for _, side := range []int{1, 0, 0, 1} { // 0 ours, 1 bare
			round++
			url := oursURL
			if side == 1 {
				url = bareURL
			}
			lat, secs, ok := closedLoop(url, fmt.Sprintf("%s-%d", prefix, round), n, d)
			r := &results[side]
			r.count, r.secs, r.lat, r.failed = r.count+len(lat), r.secs+secs, append(r.lat, lat...), r.failed || !ok
		}
		progressed := false
		for side, best := range []*float64{&ours, &bare} {
			r := results[side]
			if r.failed || len(r.lat) == 0 {
				continue
			}
			rate := float64(r.count) / r.secs
			p99 := summarize(r.lat, rate).p99
			b.Logf("closed loop, %d senders, %s: %.1f/s, p99 %s", n, [...]string{"ours", "bare"}[side], rate, p99)
			if p99 <= capacityP99Bound && rate > *best {
				*best, progressed = rate, true
			}
		}
		if !progressed {
			break
		}
	}
	if ours == 0 || bare == 0 {
		// Not even one sender at a time: a machine too busy to measure.
		b.Logf("no closed-loop level met p99 ≤ %s on one side (ours %.0f/s, bare %.0f/s)", capacityP99Bound, ours, bare)
	}
	return ours, bare
}

// closedLoop runs n senders against baseURL for about d, each sending its
// next notification when the previous is answered, and returns the
// latencies, the seconds they took, and whether every one was accepted.
func closedLoop(baseURL, prefix string, n int, d time.Duration) ([]time.Duration, float64, bool) {
	httpClient := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: n}, Timeout: 30 * time.Second}
	defer httpClient.CloseIdleConnections()
	var mu sync.Mutex
	var latencies []time.Duration
	ok := true
	var wg sync.WaitGroup
	start := time.Now()
	for s := range n {
		wg.Go(func() {
			for i := 0; time.Since(start) < d; i++ {
				body := fmt.Sprintf(`{"videoContext":"bench","wochitVideoId":"%s-%d-%d","title":"t","videoUrl":"https://media.example.com/%d.mp4","thumbnailUrl":"https://media.example.com/%d.png"}`, prefix, s, i, i, i)
				sent := time.Now()
				resp, err := httpClient.Post(baseURL+"/webhooks/wochit", "application/json", strings.NewReader(body))
				lat := time.Since(sent)
				accepted := err == nil && resp.StatusCode == http.StatusAccepted
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				mu.Lock()
				latencies, ok = append(latencies, lat), ok && accepted
				mu.Unlock()
				if !accepted {
					return
				}
			}
		})
	}
	wg.Wait()
	return latencies, time.Since(start).Seconds(), ok
}

func summarize(lat []time.Duration, perSecond float64) loadResult {
	slices.Sort(lat)
	return loadResult{perSecond: perSecond, p50: lat[len(lat)/2], p99: lat[len(lat)*99/100]}
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
		var n contract.Notification
		if err := json.NewDecoder(r.Body).Decode(&n); err != nil {
			http.Error(w, "bad json", http.StatusBadRequest)
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		defer cancel()
		runID, started, err := workflows.StartIngest(ctx, c, workflows.StartOptions{Namespace: namespace},
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
// and returns the latency from its scheduled time of every one accepted
// (202), the seconds from the first send to the last answer, and how many
// were not accepted (a side that cannot keep up answers 503 or times out).
func openLoop(baseURL, prefix string, rate int, d time.Duration) ([]time.Duration, float64, int) {
	httpClient := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1000}, Timeout: 30 * time.Second}
	total := int(d.Seconds() * float64(rate))
	interval := time.Second / time.Duration(rate)
	var latencies []time.Duration
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
			latencies = append(latencies, lat)
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	httpClient.CloseIdleConnections()
	return latencies, elapsed.Seconds(), failures
}

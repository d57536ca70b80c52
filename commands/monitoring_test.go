package commands

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/wochit-ingest/wochit-ingest/contract"
	"github.com/wochit-ingest/wochit-ingest/devstack"
	"github.com/wochit-ingest/wochit-ingest/devstack/devstacktest"
	"github.com/wochit-ingest/wochit-ingest/devstack/mediaorigin"
)

// monitoringMetrics is the list deploy/check keeps of the metric names the
// alert rules and the Grafana dashboard use.
const monitoringMetrics = "../deploy/prometheus/metrics.txt"

// Every metric the alert rules and the dashboard use is on a live /metrics:
// the ingress's (wochit_ingress_*) of an ingress process, everything else on
// a worker process's, after a run that stored its files and one that failed
// and exhausted its callback. A rule or a panel over a name no process
// exports would never fire or show anything.
//
// Mutations: rename a series (e.g. wochit_callback_deliveries_total in
// workflows/metrics.go) → "the worker's /metrics lacks
// wochit_callback_deliveries_total"; SDKHandler back to summaries →
// "…lacks temporal_activity_schedule_to_start_latency_bucket".
func TestMonitoringMetricsAreExported(t *testing.T) {
	devstacktest.EndToEnd(t)
	want := readMetricNames(t)
	stack := startStackWithoutWorker(t)

	origin := mediaorigin.New()
	originServer := httptest.NewServer(origin)
	defer originServer.Close()
	origin.Put("/v.mp4", mediaorigin.File{Body: mediaorigin.Video("monitoring", 200<<10), ContentType: "video/mp4"})
	origin.Put("/t.png", mediaorigin.File{Body: mediaorigin.Thumbnail("monitoring", 16, 16), ContentType: "image/png"})
	// The backend takes video.stored and refuses video.failed with 503, so
	// the failed run's callback is exhausted.
	events := make(chan contract.Event, 16)
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var ev contract.Event
		_ = json.NewDecoder(r.Body).Decode(&ev)
		events <- ev
		if ev.Type == contract.VideoFailed {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer backend.Close()

	ingressAddr, adminAddr, workerAddr := freeAddr(t), freeAddr(t), freeAddr(t)
	ingress := startChild(t, []string{
		childCommandEnv + "=ingress",
		"TEMPORAL_ADDRESS=" + stack.TemporalAddr, "TEMPORAL_NAMESPACE=" + devstack.Namespace,
		"PAYLOAD_KEYS=" + stack.PayloadKeys,
		"INGRESS_ADDR=" + ingressAddr, "INGRESS_ADMIN_ADDR=" + adminAddr, "INGRESS_ALLOWLIST=off", "INGRESS_ALLOW_HTTP_URLS=true", "ORIGIN_ALLOW_PRIVATE=true",
		"OUTBOUND_ALLOWED_PORTS=" + portOf(originServer.URL), "CALLBACK_SCHEDULE=0s,1s", "LOG_LEVEL=warn",
	})
	defer func() { ingress.Process.Kill(); ingress.Wait() }()
	env := workerEnv(stack, originServer.URL, backend.URL)
	env = append(env, "WORKER_HTTP_ADDR="+workerAddr)
	worker := startChild(t, env)
	defer func() { worker.Process.Kill(); worker.Wait() }()
	devstacktest.WaitFor(t, 30*time.Second, "the ingress to be ready", func() bool {
		resp, err := http.Get("http://" + adminAddr + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})

	for _, n := range []struct{ id, video string }{{"monitoring-ok", "/v.mp4"}, {"monitoring-failed", "/missing.mp4"}} {
		resp, err := http.Post("http://"+ingressAddr+"/webhooks/wochit", "application/json", strings.NewReader(fmt.Sprintf(
			`{"videoContext":"c","wochitVideoId":"%s","title":"t","videoUrl":"%s%s","thumbnailUrl":"%s/t.png"}`,
			n.id, originServer.URL, n.video, originServer.URL)))
		if err != nil || resp.StatusCode != http.StatusAccepted {
			t.Fatalf("POST %s: %v %v", n.id, err, resp)
		}
		resp.Body.Close()
	}
	var stored, failed int
	for stored < 1 || failed < 2 { // the failed event: both attempts of the schedule
		select {
		case ev := <-events:
			if ev.Type == contract.VideoStored {
				stored++
			} else {
				failed++
			}
		case <-time.After(2 * time.Minute):
			t.Fatalf("callbacks: %d stored, %d failed attempts; want 1 and 2", stored, failed)
		}
	}

	// The workflows' and the SDK's series reach the registry with tally's
	// next report (every second): wait for the run that ended last.
	var workerNames map[string]bool
	devstacktest.WaitFor(t, 30*time.Second, "the exhausted delivery on the worker's /metrics", func() bool {
		var body string
		workerNames, body = scrape(t, "http://"+workerAddr+"/metrics")
		return strings.Contains(body, `result="exhausted"`)
	})
	ingressNames, _ := scrape(t, "http://"+adminAddr+"/metrics")
	for _, name := range want {
		if strings.HasPrefix(name, "wochit_ingress_") {
			if !ingressNames[name] {
				t.Errorf("the ingress's /metrics lacks %s", name)
			}
		} else if !workerNames[name] {
			t.Errorf("the worker's /metrics lacks %s", name)
		}
	}
}

func readMetricNames(t *testing.T) []string {
	t.Helper()
	f, err := os.Open(monitoringMetrics)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var names []string
	s := bufio.NewScanner(f)
	for s.Scan() {
		if line := strings.TrimSpace(s.Text()); line != "" && !strings.HasPrefix(line, "#") {
			names = append(names, line)
		}
	}
	if len(names) < 10 {
		t.Fatalf("%s lists %d names", monitoringMetrics, len(names))
	}
	return names
}

// scrape returns the sample names (with _bucket, _count, _sum) of a
// Prometheus text exposition, and the body.
func scrape(t *testing.T, url string) (map[string]bool, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v", url, resp.StatusCode, err)
	}
	names := map[string]bool{}
	for _, line := range strings.Split(string(b), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if i := strings.IndexAny(line, "{ "); i > 0 {
			names[line[:i]] = true
		}
	}
	return names, string(b)
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

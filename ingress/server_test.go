package ingress_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
	"go.temporal.io/server/temporaltest"

	"github.com/wochit-ingest/wochit-ingest/contract"
	"github.com/wochit-ingest/wochit-ingest/devstack/devstacktest"
	"github.com/wochit-ingest/wochit-ingest/ingress"
	"github.com/wochit-ingest/wochit-ingest/workflows"
)

// shared is one real Temporal server for the tests in this package. No
// worker polls it, so every started workflow stays open: exactly what the
// ingress sees in production before a worker picks the run up. With -short
// it is not started (see temporalServer).
var shared *temporaltest.TestServer

func TestMain(m *testing.M) {
	flag.Parse() // for testing.Short
	if !testing.Short() {
		shared = temporaltest.NewServer()
	}
	code := m.Run()
	if shared != nil {
		shared.Stop()
	}
	os.Exit(code)
}

// temporalServer is the shared server, for a test that needs one.
func temporalServer(t *testing.T) *temporaltest.TestServer {
	t.Helper()
	devstacktest.EndToEnd(t)
	return shared
}

type fixture struct {
	url      string
	temporal client.Client
}

func newFixture(t *testing.T, ts *temporaltest.TestServer, cfg ingress.Config) fixture {
	t.Helper()
	c := ts.GetDefaultClient()
	cfg.Namespace = ts.GetDefaultNamespace()
	// Tests post from loopback: open the source check unless the test
	// configures it (the zero Config lets only Wochit's addresses in).
	cfg.AnySource = cfg.AllowedSources == nil
	srv := httptest.NewServer(ingress.NewServer(cfg, c))
	t.Cleanup(srv.Close)
	return fixture{url: srv.URL, temporal: c}
}

type answer struct {
	status int
	header http.Header
	body   map[string]string
}

func post(t *testing.T, url, contentType string, body []byte) answer {
	t.Helper()
	resp, err := http.Post(url, contentType, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, header: resp.Header}
	if err := json.Unmarshal(raw, &a.body); err != nil {
		t.Fatalf("answer %d is not a JSON object: %q", resp.StatusCode, raw)
	}
	return a
}

func notification(id string) map[string]any {
	return map[string]any{
		"videoContext":  "user-42",
		"wochitVideoId": id,
		"thumbnailUrl":  "https://media.example.com/t.jpg?sig=1",
		"videoUrl":      "https://media.example.com/v.mp4?sig=1",
		"title":         "The video title",
	}
}

func jsonBody(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var idCounter struct {
	sync.Mutex
	n int
}

// uniqueID keeps tests on the shared server from seeing each other's runs.
func uniqueID(t *testing.T) string {
	idCounter.Lock()
	defer idCounter.Unlock()
	idCounter.n++
	return fmt.Sprintf("t%d-%d", time.Now().UnixNano()%1e9, idCounter.n)
}

func TestNotificationStartsWorkflow(t *testing.T) {
	f := newFixture(t, temporalServer(t), ingress.Config{})
	id := uniqueID(t)
	n := notification(id)
	n["someFutureField"] = map[string]int{"x": 1} // unknown fields are accepted
	before := time.Now()

	got := post(t, f.url+"/webhooks/wochit", "application/json", jsonBody(t, n))
	if got.status != http.StatusAccepted {
		t.Fatalf("status = %d %v, want 202", got.status, got.body)
	}
	if got.body["workflowId"] != "wochit-video-"+id || got.body["runId"] == "" {
		t.Fatalf("body = %v", got.body)
	}

	// 2xx means Temporal has the run, with the notification as its input.
	desc, err := f.temporal.DescribeWorkflowExecution(context.Background(), got.body["workflowId"], got.body["runId"])
	if err != nil {
		t.Fatalf("the workflow the ingress reported does not exist: %v", err)
	}
	if tq := desc.GetExecutionConfig().GetTaskQueue().GetName(); tq != workflows.TaskQueue {
		t.Errorf("task queue = %q, want %q", tq, workflows.TaskQueue)
	}
	in := workflowInput(t, f.temporal, got.body["workflowId"], got.body["runId"])
	want := contract.Notification{VideoContext: "user-42", WochitVideoID: id, ThumbnailURL: n["thumbnailUrl"].(string), VideoURL: n["videoUrl"].(string), Title: "The video title"}
	if in.Notification != want {
		t.Errorf("workflow input = %+v, want %+v", in.Notification, want)
	}
	if in.ReceivedAt.Before(before.Add(-time.Second)) || in.ReceivedAt.After(time.Now()) {
		t.Errorf("receivedAt = %s, want the time of the request", in.ReceivedAt)
	}
}

func workflowInput(t *testing.T, c client.Client, workflowID, runID string) workflows.IngestInput {
	t.Helper()
	it := c.GetWorkflowHistory(context.Background(), workflowID, runID, false, 0)
	ev, err := it.Next()
	if err != nil {
		t.Fatal(err)
	}
	var in workflows.IngestInput
	payloads := ev.GetWorkflowExecutionStartedEventAttributes().GetInput()
	if err := client.NewValue(payloads).Get(&in); err != nil {
		t.Fatal(err)
	}
	return in
}

func TestDuplicateNotificationAnswersSameRun(t *testing.T) {
	f := newFixture(t, temporalServer(t), ingress.Config{})
	body := jsonBody(t, notification(uniqueID(t)))
	first := post(t, f.url+"/webhooks/wochit", "application/json", body)
	second := post(t, f.url+"/webhooks/wochit", "application/json", body)
	if first.status != http.StatusAccepted || second.status != http.StatusOK {
		t.Fatalf("statuses = %d, %d; want 202 then 200", first.status, second.status)
	}
	if first.body["runId"] != second.body["runId"] || first.body["workflowId"] != second.body["workflowId"] {
		t.Fatalf("duplicate answered %v, first answered %v", second.body, first.body)
	}
}

// A second notification for the same video that differs in any field is
// not a duplicate: it is refused with 409 (never a silent 200), counted, and
// the run keeps the notification it was started with.
func TestConflictingNotificationIsRefused(t *testing.T) {
	f := newFixture(t, temporalServer(t), ingress.Config{})
	for _, field := range []string{"videoUrl", "thumbnailUrl", "videoContext", "title"} {
		t.Run(field, func(t *testing.T) {
			id := uniqueID(t)
			original := notification(id)
			first := post(t, f.url+"/webhooks/wochit", "application/json", jsonBody(t, original))
			if first.status != http.StatusAccepted {
				t.Fatalf("first answered %d %v", first.status, first.body)
			}
			changed := notification(id)
			changed[field] = changed[field].(string) + "-2"
			if field == "videoUrl" || field == "thumbnailUrl" {
				changed[field] = strings.Replace(original[field].(string), "sig=1", "sig=2", 1)
			}
			got := post(t, f.url+"/webhooks/wochit", "application/json", jsonBody(t, changed))
			if got.status != http.StatusConflict || got.body["error"] != "conflicting_notification" || got.body["message"] == "" {
				t.Fatalf("conflicting notification answered %d %v, want 409 conflicting_notification", got.status, got.body)
			}
			if in := workflowInput(t, f.temporal, first.body["workflowId"], first.body["runId"]); in.Notification.VideoURL != original["videoUrl"] ||
				in.Notification.Title != original["title"] || in.Notification.VideoContext != original["videoContext"] {
				t.Fatalf("the run's input changed to %+v", in.Notification)
			}
			// The identical notification is still a duplicate of the run.
			if again := post(t, f.url+"/webhooks/wochit", "application/json", jsonBody(t, original)); again.status != http.StatusOK || again.body["runId"] != first.body["runId"] {
				t.Fatalf("the original again answered %d %v, want 200 with run %s", again.status, again.body, first.body["runId"])
			}
		})
	}
	metrics := get(t, f.url+"/metrics")
	if !strings.Contains(metrics, "wochit_ingress_conflicts_total 4") || !strings.Contains(metrics, `wochit_ingress_requests_total{code="conflicting_notification",outcome="rejected"} 4`) {
		t.Errorf("conflicts are not counted:\n%s", grepLines(metrics, "conflict"))
	}
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func grepLines(s, substr string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func TestConcurrentDuplicatesStartExactlyOneWorkflow(t *testing.T) {
	f := newFixture(t, temporalServer(t), ingress.Config{})
	body := jsonBody(t, notification(uniqueID(t)))
	const callers = 20
	answers := make([]answer, callers)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			answers[i] = post(t, f.url+"/webhooks/wochit", "application/json", body)
		}()
	}
	close(start)
	wg.Wait()

	started := 0
	for _, a := range answers {
		switch a.status {
		case http.StatusAccepted:
			started++
		case http.StatusOK:
		default:
			t.Fatalf("a caller got %d %v", a.status, a.body)
		}
		if a.body["runId"] != answers[0].body["runId"] {
			t.Fatalf("callers got different runs: %v vs %v", a.body, answers[0].body)
		}
	}
	if started != 1 {
		t.Fatalf("%d callers got 202, want exactly 1", started)
	}
}

func TestRedeliveryAfterFailedRunStartsNewRun(t *testing.T) {
	f := newFixture(t, temporalServer(t), ingress.Config{})
	body := jsonBody(t, notification(uniqueID(t)))
	first := post(t, f.url+"/webhooks/wochit", "application/json", body)
	if first.status != http.StatusAccepted {
		t.Fatalf("status = %d", first.status)
	}
	// A terminated run counts as failed.
	if err := f.temporal.TerminateWorkflow(context.Background(), first.body["workflowId"], first.body["runId"], "test"); err != nil {
		t.Fatal(err)
	}
	again := post(t, f.url+"/webhooks/wochit", "application/json", body)
	if again.status != http.StatusAccepted || again.body["runId"] == first.body["runId"] {
		t.Fatalf("redelivery after failure answered %d %v, want 202 with a new run", again.status, again.body)
	}
}

func TestDuplicateAfterCompletionDoesNotRerun(t *testing.T) {
	devstacktest.EndToEnd(t)
	// Its own server: a stand-in worker completes every run at once.
	ts := temporaltest.NewServer(temporaltest.WithT(t))
	ts.NewWorker(workflows.TaskQueue, func(r worker.Registry) {
		r.RegisterWorkflowWithOptions(func(workflow.Context, workflows.IngestInput) error { return nil },
			workflow.RegisterOptions{Name: workflows.IngestVideoName})
	})
	f := newFixture(t, ts, ingress.Config{})
	body := jsonBody(t, notification(uniqueID(t)))
	first := post(t, f.url+"/webhooks/wochit", "application/json", body)
	if first.status != http.StatusAccepted {
		t.Fatalf("status = %d", first.status)
	}
	if err := f.temporal.GetWorkflow(context.Background(), first.body["workflowId"], first.body["runId"]).Get(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	again := post(t, f.url+"/webhooks/wochit", "application/json", body)
	if again.status != http.StatusOK || again.body["runId"] != first.body["runId"] {
		t.Fatalf("duplicate after completion answered %d %v, want 200 with the completed run %s", again.status, again.body, first.body["runId"])
	}
	// A different notification after completion is refused, not re-run.
	var n map[string]any
	_ = json.Unmarshal(body, &n)
	n["title"] = "Another title"
	if other := post(t, f.url+"/webhooks/wochit", "application/json", jsonBody(t, n)); other.status != http.StatusConflict {
		t.Fatalf("a different notification after completion answered %d %v, want 409", other.status, other.body)
	}
}

func TestTemporalUnreachableAnswers503(t *testing.T) {
	// A port nothing listens on.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	c, err := client.NewLazyClient(client.Options{HostPort: addr})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	srv := httptest.NewServer(ingress.NewServer(ingress.Config{AnySource: true}, c))
	defer srv.Close()

	start := time.Now()
	got := post(t, srv.URL+"/webhooks/wochit", "application/json", jsonBody(t, notification(uniqueID(t))))
	elapsed := time.Since(start)
	if got.status != http.StatusServiceUnavailable || got.header.Get("Retry-After") == "" || got.body["error"] != "temporal_unavailable" {
		t.Fatalf("answer = %d %v (Retry-After %q), want 503 temporal_unavailable with Retry-After", got.status, got.body, got.header.Get("Retry-After"))
	}
	if elapsed > 6*time.Second {
		t.Fatalf("answered after %s, want within about 5 s", elapsed)
	}
	if strings.Contains(fmt.Sprint(got.body), addr) {
		t.Fatalf("the answer leaks internals: %v", got.body)
	}

	ready := getStatus(t, srv.URL+"/readyz")
	if ready != http.StatusServiceUnavailable {
		t.Fatalf("/readyz = %d with Temporal down, want 503", ready)
	}
}

func TestHealthAndReadiness(t *testing.T) {
	f := newFixture(t, temporalServer(t), ingress.Config{})
	if got := getStatus(t, f.url+"/healthz"); got != http.StatusOK {
		t.Errorf("/healthz = %d", got)
	}
	if got := getStatus(t, f.url+"/readyz"); got != http.StatusOK {
		t.Errorf("/readyz = %d", got)
	}
}

func getStatus(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

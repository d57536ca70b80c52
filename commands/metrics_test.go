package commands

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/wochit-ingest/wochit-ingest/contract"

	"github.com/wochit-ingest/wochit-ingest/devstack/devstacktest"
	"github.com/wochit-ingest/wochit-ingest/devstack/mediaorigin"
)

// After a run, the worker's /metrics has the transfer series and the
// Temporal SDK's, with values; /healthz and /readyz answer.
func TestWorkerMetricsAfterARun(t *testing.T) {
	devstacktest.EndToEnd(t)
	stack := startStackWithoutWorker(t)
	origin := mediaorigin.New()
	originServer := httptest.NewServer(origin)
	defer originServer.Close()
	origin.Put("/v.mp4", mediaorigin.File{Body: mediaorigin.Video("metrics", 300<<10), ContentType: "video/mp4"})
	origin.Put("/t.png", mediaorigin.File{Body: mediaorigin.Thumbnail("metrics", 16, 16), ContentType: "image/png"})
	callbacks := devstacktest.NewReceiver(t)

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	httpAddr := l.Addr().String()
	l.Close()
	env := append(workerEnv(stack, originServer.URL, callbacks.URL), "WORKER_HTTP_ADDR="+httpAddr)
	w := startChild(t, env)
	defer func() { w.Process.Kill(); w.Wait() }()

	resp, err := http.Post(stack.IngressURL+"/webhooks/wochit", "application/json", strings.NewReader(fmt.Sprintf(
		`{"videoContext":"c","wochitVideoId":"metrics-1","title":"t","videoUrl":"%s/v.mp4","thumbnailUrl":"%s/t.png"}`,
		originServer.URL, originServer.URL)))
	if err != nil || resp.StatusCode != http.StatusAccepted {
		t.Fatalf("POST: %v %v", err, resp)
	}
	resp.Body.Close()
	if ev := callbacks.Next(time.Minute).Event; ev.Type != contract.VideoStored {
		t.Fatalf("event = %+v", ev)
	}

	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + httpAddr + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		if code, body := get(path); code != http.StatusOK {
			t.Errorf("%s = %d %s", path, code, body)
		}
	}
	// SDK metrics are reported every second; wait for a scrape that has them.
	var body string
	devstacktest.WaitFor(t, 10*time.Second, "SDK metrics to be exported", func() bool {
		_, body = get("/metrics")
		return strings.Contains(body, "temporal_activity_execution_latency") && strings.Contains(body, "temporal_workflow_completed")
	})
	for _, series := range []string{
		`wochit_transfer_bytes_total{kind="video"} 307200`,
		`wochit_transfers_total{kind="video",outcome="stored"} 1`,
		`wochit_transfers_total{kind="thumbnail",outcome="stored"} 1`,
		`wochit_transfer_integrity_failures_total`,
		`temporal_workflow_completed`,
	} {
		if !strings.Contains(body, series) {
			t.Errorf("/metrics lacks %s", series)
		}
	}
}

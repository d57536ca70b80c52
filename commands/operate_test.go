package commands

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wochit-ingest/wochit-ingest/devstack"
	"github.com/wochit-ingest/wochit-ingest/devstack/devstacktest"
	"github.com/wochit-ingest/wochit-ingest/devstack/mediaorigin"
	"github.com/wochit-ingest/wochit-ingest/internal/payloadcodec"
	"github.com/wochit-ingest/wochit-ingest/operate"
	"github.com/wochit-ingest/wochit-ingest/workflows"
)

// The operator's commands as issue 21 checks them, through the command line
// against a dev stack with a failing origin and an unreachable callback URL:
// `list --failed --reason` finds exactly the failed runs, `status` shows the
// reason and the attempts in clear, and a batch `redeliver` after the
// endpoint recovers delivers each once. (operate's tests cover each piece
// and their mutations; this one guards the wiring: flags, arguments, keys.)
// Mutation: dropping the --reason flag's value from registerFilter's Filter
// makes the list check fail with both videos.
func TestOperatorCommands(t *testing.T) {
	devstacktest.EndToEnd(t)
	// The callback endpoint: nothing listens on its port until it recovers.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	backendAddr := l.Addr().String()
	l.Close()
	schedule := []time.Duration{0, 100 * time.Millisecond, 100 * time.Millisecond}
	stack := devstacktest.Start(t, devstacktest.Quiet, func(o *devstack.Options) {
		o.CallbackURL, o.CallbackSchedule = "http://"+backendAddr+"/hooks", schedule
	})
	origin := mediaorigin.New()
	originServer := httptest.NewServer(origin)
	defer originServer.Close()
	origin.Put("/stored/v.mp4", mediaorigin.File{Body: mediaorigin.Video("stored", 64<<10), ContentType: "video/mp4"})
	origin.Put("/stored/t.png", mediaorigin.File{Body: mediaorigin.Thumbnail("stored", 16, 16), ContentType: "image/png"})

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	for _, v := range []string{"cli-stored", "cli-missing"} {
		dir := "missing"
		if v == "cli-stored" {
			dir = "stored"
		}
		body, _ := json.Marshal(map[string]string{"wochitVideoId": v, "videoContext": "ctx-" + v, "title": "Title of " + v,
			"videoUrl": originServer.URL + "/" + dir + "/v.mp4", "thumbnailUrl": originServer.URL + "/" + dir + "/t.png"})
		resp, err := http.Post(stack.IngressURL+"/webhooks/wochit", "application/json", bytes.NewReader(body))
		if err != nil || resp.StatusCode != http.StatusAccepted {
			t.Fatalf("posting %s: %v %v", v, resp, err)
		}
		resp.Body.Close()
		if err := stack.Client.GetWorkflow(ctx, workflows.WorkflowID(v), "").Get(ctx, nil); err == nil {
			t.Fatalf("%s completed; the callback endpoint is down", v)
		}
	}
	keys := []string{"PAYLOAD_KEYS=" + stack.PayloadKeys}
	at := []string{"--temporal-address", stack.TemporalAddr}

	stdout, stderr, err := runCmd(t, ctx, nil, append([]string{"list", "--failed", "--reason", "OriginNotFound", "--json"}, at...)...)
	var runs []operate.Run
	if err != nil || json.Unmarshal([]byte(stdout), &runs) != nil || len(runs) != 1 || runs[0].WochitVideoID != "cli-missing" {
		t.Fatalf("list --failed --reason OriginNotFound: %v\n%s%s", err, stdout, stderr)
	}
	if stdout, _, err := runCmd(t, ctx, nil, append([]string{"list", "--failed", "--since", "1h"}, at...)...); err != nil ||
		!strings.Contains(stdout, "cli-stored") || !strings.Contains(stdout, "CallbackExhausted") || !strings.Contains(stdout, "2 run(s)") {
		t.Fatalf("list --failed: %v\n%s", err, stdout)
	}
	if _, _, err := runCmd(t, ctx, nil, append([]string{"list", "--reason", "Sideways"}, at...)...); err == nil || !strings.Contains(err.Error(), "OriginNotFound") {
		t.Fatalf("list --reason Sideways: %v, want the reasons listed", err)
	}

	stdout, _, err = runCmd(t, ctx, keys, append([]string{"status", "cli-stored"}, at...)...)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Failed (stage failed)", "reason", "CallbackExhausted", "attempt 3", "refused", "gs://", "crc32c", "Title of cli-stored"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("status lacks %q:\n%s", want, stdout)
		}
	}
	stdout, _, err = runCmd(t, ctx, keys, append([]string{"status", "--json", "cli-missing"}, at...)...)
	var report operate.Report
	if err != nil || json.Unmarshal([]byte(stdout), &report) != nil || report.Reason != "OriginNotFound" {
		t.Fatalf("status --json: %v\n%s", err, stdout)
	}
	// Without the keys, or with others: an error about the keys, no verdict
	// on the run.
	for _, env := range [][]string{nil, {"PAYLOAD_KEYS=" + payloadcodec.GenerateKey()}} {
		if stdout, _, err := runCmd(t, ctx, env, append([]string{"status", "cli-stored"}, at...)...); err == nil ||
			!strings.Contains(err.Error(), "PAYLOAD_KEYS") || strings.Contains(stdout, "Failed") {
			t.Fatalf("status with %v: %v\n%s", env, err, stdout)
		}
	}
	if _, _, err := runCmd(t, ctx, keys, append([]string{"status", "nope"}, at...)...); err == nil || !strings.Contains(err.Error(), `no ingest of video "nope"`) {
		t.Fatalf("status of an unknown id: %v", err)
	}
	if _, _, err := runCmd(t, ctx, keys, append([]string{"redeliver"}, at...)...); err == nil || !strings.Contains(err.Error(), "which video?") {
		t.Fatalf("redeliver with neither an id nor filters: %v", err)
	}
	if _, _, err := runCmd(t, ctx, keys, append([]string{"redeliver", "cli-stored", "--failed"}, at...)...); err == nil || !strings.Contains(err.Error(), "not both") {
		t.Fatalf("redeliver with an id and filters: %v", err)
	}

	// The endpoint recovers; the batch redelivers each exhausted video once.
	var mu sync.Mutex
	got := map[string]int{}
	backend, err := net.Listen("tcp", backendAddr)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var ev struct {
			Data struct{ WochitVideoID string }
		}
		_ = json.NewDecoder(r.Body).Decode(&ev)
		mu.Lock()
		got[ev.Data.WochitVideoID]++
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	})}
	go srv.Serve(backend)
	defer srv.Close()
	stdout, stderr, err = runCmd(t, ctx, keys, append([]string{"redeliver", "--callback", "exhausted", "--reason", "CallbackExhausted", "--yes", "--rate", "20"}, at...)...)
	if err != nil || !strings.Contains(stdout, "1 video(s) match") || !strings.Contains(stdout, "[1/1] cli-stored: re-run") {
		t.Fatalf("batch redeliver: %v\n%s%s", err, stdout, stderr)
	}
	stdout, _, err = runCmd(t, ctx, keys, append([]string{"follow", "cli-stored"}, at...)...)
	if err != nil || !strings.Contains(stdout, "✓ stored") {
		t.Fatalf("follow: %v\n%s", err, stdout)
	}
	mu.Lock()
	defer mu.Unlock()
	if got["cli-stored"] != 1 || got["cli-missing"] != 0 {
		t.Fatalf("the recovered endpoint got %v, want cli-stored once", got)
	}
	if n := origin.Stats("/stored/v.mp4").Requests; n != 1 {
		t.Fatalf("the origin served the stored video %d times, want once (the redelivery reuses the stored copy)", n)
	}
}

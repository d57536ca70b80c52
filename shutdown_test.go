package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"

	"wochit-ingest/activities"
	"wochit-ingest/internal/mediaorigin"
)

// SIGTERM during a transfer: the worker stops polling but lets the running
// transfer finish (within WORKER_STOP_TIMEOUT), reports it, and exits 0.
// The transfer is not repeated.
func TestWorkerSIGTERMLetsTheTransferFinish(t *testing.T) {
	stack := startStackWithoutWorker(t)
	origin := mediaorigin.New()
	originServer := httptest.NewServer(origin)
	defer originServer.Close()
	video := mediaorigin.Video("sigterm", 3<<20)
	origin.Put("/v.mp4", mediaorigin.File{Body: video, ContentType: "video/mp4", BytesPerSecond: 1 << 20, NoRanges: true})
	origin.Put("/t.png", mediaorigin.File{Body: mediaorigin.Thumbnail("sigterm", 16, 16), ContentType: "image/png"})
	callbacks := newCallbackSink(t)
	env := append(workerEnv(stack, originServer.URL, callbacks.url), "WORKER_STOP_TIMEOUT=60s")

	first := startChild(t, env)
	resp, err := http.Post(stack.IngressURL+"/webhooks/wochit", "application/json", strings.NewReader(fmt.Sprintf(
		`{"videoContext":"c","wochitVideoId":"sigterm-1","title":"t","videoUrl":"%s/v.mp4","thumbnailUrl":"%s/t.png"}`,
		originServer.URL, originServer.URL)))
	if err != nil || resp.StatusCode != http.StatusAccepted {
		t.Fatalf("POST: %v %v", err, resp)
	}
	resp.Body.Close()

	waitUntil(t, time.Minute, "the video transfer to be under way", func() bool { return origin.Stats("/v.mp4").BytesSent >= 512<<10 })
	if err := first.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- first.Wait() }()
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("the worker exited with %v after SIGTERM, want 0", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("the worker did not exit within its stop timeout")
	}
	if s := origin.Stats("/v.mp4"); s.Completed != 1 {
		t.Fatalf("origin stats %+v: the transfer did not finish before the worker exited", s)
	}

	// The transfer was reported done: the workflow has moved on and no
	// attempt of it is pending.
	desc, err := stack.Client.DescribeWorkflowExecution(context.Background(), "wochit-video-sigterm-1", "")
	if err != nil {
		t.Fatal(err)
	}
	for _, pa := range desc.GetPendingActivities() {
		if pa.GetActivityType().GetName() == "TransferToGCS" && pa.GetState() != enumspb.PENDING_ACTIVITY_STATE_SCHEDULED {
			t.Fatalf("a transfer is still pending after the worker exited: %+v", pa)
		}
	}

	// Another worker finishes the workflow without fetching the video again.
	second := startChild(t, env)
	defer func() { second.Process.Kill(); second.Wait() }()
	if ev := callbacks.next(t, time.Minute); ev.Type != activities.EventVideoStored {
		t.Fatalf("event = %+v", ev)
	}
	if n := origin.Stats("/v.mp4").Requests; n != 1 {
		t.Fatalf("the origin served the video %d times, want once", n)
	}
}

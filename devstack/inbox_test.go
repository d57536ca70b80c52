package devstack_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/wochit-ingest/wochit-ingest/contract"
	"github.com/wochit-ingest/wochit-ingest/devstack"
	"github.com/wochit-ingest/wochit-ingest/devstack/devstacktest"
	"github.com/wochit-ingest/wochit-ingest/devstack/mediaorigin"
	"github.com/wochit-ingest/wochit-ingest/inbox"
	"github.com/wochit-ingest/wochit-ingest/ingress"
	"github.com/wochit-ingest/wochit-ingest/internal/safehttp"
	"github.com/wochit-ingest/wochit-ingest/internal/webhook"
	"github.com/wochit-ingest/wochit-ingest/worker"
	"github.com/wochit-ingest/wochit-ingest/workflows"
)

// The door stays open while Temporal does not answer. An ingress whose
// Temporal address refuses connections answers 202 queued and leaves an
// encrypted object in the inbox (the raw object holds no signed-URL token);
// the stack's worker, on a real Temporal server, drains it into a run that
// completes with exactly one video.stored, its deadlines counted from the
// door's receipt (an hour before the drain), and the inbox ends empty.
//
// Mutations: the drain starting runs with ReceivedAt set to its own clock
// fails "deadline ... want ... counted from the receipt"; encoding inbox
// entries without the payload keys fails "raw inbox object holds the
// signed-URL token"; a drain that never deletes fails "inbox not empty".
func TestQueuedWhileTemporalIsDownThenDrainedIntoOneRun(t *testing.T) {
	devstacktest.EndToEnd(t)
	origin := mediaorigin.New()
	originServer := httptest.NewServer(origin)
	defer originServer.Close()
	video := mediaorigin.Video("queued", 1<<20+3)
	thumbnail := mediaorigin.Thumbnail("queued", 64, 64)
	origin.Put("/v.mp4", mediaorigin.File{Body: video, ContentType: "video/mp4"})
	origin.Put("/t.png", mediaorigin.File{Body: thumbnail, ContentType: "image/png"})
	recv := devstacktest.NewReceiver(t)
	// The worker starts only once the queued object was inspected.
	stack := devstacktest.Start(t, func(o *devstack.Options) { o.NoWorker = true; o.CallbackURL = recv.URL })

	local := safehttp.Policy{AllowPrivate: true, AllowAnyPort: true}
	// The door of a Temporal outage: nothing listens at its address.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	down, err := client.NewLazyClient(client.Options{HostPort: l.Addr().String(), DataConverter: stack.DataConverter})
	if err != nil {
		t.Fatal(err)
	}
	defer down.Close()
	receipt := time.Now().Add(-time.Hour).UTC().Truncate(time.Millisecond)
	door := httptest.NewServer(ingress.NewServer(ingress.Config{
		AnySource: true, AllowHTTPURLs: true, OriginPolicy: local,
		DataConverter: stack.DataConverter, Inbox: stack.Inbox,
		Now: func() time.Time { return receipt }, Logger: devstacktest.Logger(t),
	}, down))
	defer door.Close()

	const token = "token=s3cr3t-signature"
	n := map[string]string{
		"videoContext": "page-9", "wochitVideoId": "queued-1", "title": "Queued",
		"videoUrl": originServer.URL + "/v.mp4?" + token, "thumbnailUrl": originServer.URL + "/t.png?" + token,
	}
	body, _ := json.Marshal(n)
	resp, err := http.Post(door.URL+"/webhooks/wochit", "text/plain", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var answer map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&answer)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted || answer["queued"] != true || answer["workflowId"] != "wochit-video-queued-1" {
		t.Fatalf("the door answered %d %v, want 202 queued", resp.StatusCode, answer)
	}

	// The raw object, as anyone with bucket access reads it.
	ctx := context.Background()
	in := workflows.IngestInput{Notification: contract.Notification{WochitVideoID: "queued-1", VideoURL: n["videoUrl"],
		ThumbnailURL: n["thumbnailUrl"], VideoContext: "page-9", Title: "Queued"}}
	if r, err := stack.Inbox.Storage.Bucket(stack.Bucket).Object(stack.Inbox.Name(in)).NewReader(ctx); err == nil {
		raw, _ := io.ReadAll(r)
		r.Close()
		if bytes.Contains(raw, []byte(token)) || bytes.Contains(raw, []byte("page-9")) {
			t.Fatalf("raw inbox object (%d bytes) holds the signed-URL token or the context in clear", len(raw))
		}
	} else {
		t.Fatalf("the queued notification's object %s: %v", stack.Inbox.Name(in), err)
	}

	// A worker on the real Temporal server drains it.
	secrets, err := webhook.ParseSecrets(devstacktest.Secret)
	if err != nil {
		t.Fatal(err)
	}
	workerCtx, stopWorker := context.WithCancel(ctx)
	workerDone := make(chan error, 1)
	go func() {
		workerDone <- worker.Run(workerCtx, worker.Config{
			Namespace: devstack.Namespace, Bucket: stack.Bucket, Prefix: stack.Prefix, StorageEndpoint: stack.GCSURL,
			CallbackURL: recv.URL, CallbackSecrets: secrets, Origins: local, Callbacks: local,
			StopTimeout: 200 * time.Millisecond, DataConverter: stack.DataConverter, Logger: devstacktest.Logger(t),
		}, stack.Client)
	}()
	defer func() {
		stopWorker()
		if err := <-workerDone; err != nil {
			t.Error(err)
		}
	}()

	d := recv.Next(2 * time.Minute)
	if d.Event.Type != contract.VideoStored || d.Event.Data.WochitVideoID != "queued-1" {
		t.Fatalf("event = %+v", d.Event)
	}
	checkStored(t, stack.GCSURL, d.Event.Data.Video, video)

	var result workflows.IngestResult
	if err := stack.Client.GetWorkflow(ctx, "wochit-video-queued-1", "").Get(ctx, &result); err != nil {
		t.Fatal(err)
	}
	if want := workflows.TransferDeadline(receipt, n["videoUrl"]); !result.Deadlines.Video.Equal(want) {
		t.Errorf("video deadline %v, want %v counted from the receipt at the door", result.Deadlines.Video, want)
	}
	stored := 0
	for _, d := range recv.All() {
		if d.Event.Type == contract.VideoStored && d.Event.Data.WochitVideoID == "queued-1" {
			stored++
		}
	}
	if stored != 1 {
		t.Errorf("%d video.stored deliveries, want exactly 1", stored)
	}
	var left []string
	if err := stack.Inbox.List(ctx, 100, func(e inbox.Entry) error { left = append(left, e.Name); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(left) != 0 {
		t.Errorf("inbox not empty after the drain: %v", left)
	}
}

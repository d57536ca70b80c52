package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/wochit-ingest/wochit-ingest/contract"

	"go.temporal.io/sdk/activity"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/wochit-ingest/wochit-ingest/activities"
	"github.com/wochit-ingest/wochit-ingest/devstack"
	"github.com/wochit-ingest/wochit-ingest/devstack/devstacktest"
	"github.com/wochit-ingest/wochit-ingest/devstack/mediaorigin"
	"github.com/wochit-ingest/wochit-ingest/internal/safehttp"
	"github.com/wochit-ingest/wochit-ingest/internal/webhook"
	"github.com/wochit-ingest/wochit-ingest/worker"
	"github.com/wochit-ingest/wochit-ingest/workflows"
)

// BenchmarkEndToEnd measures notifications completed per second on the
// embedded stack — ingress, Temporal on SQLite, the worker copying small
// media from a loopback origin into the GCS emulator and calling back a
// loopback receiver — against the same workflow whose activities do
// nothing. The ratio says how much of the end-to-end cost is the real work
// rather than the orchestration. The no-op worker runs with the real
// worker's SDK options (its slots and timings). Goal: ratio ≥ 0.8.
func BenchmarkEndToEnd(b *testing.B) {
	notifications := sized(200, 20)
	origin := mediaorigin.New()
	originServer := httptest.NewServer(origin)
	defer originServer.Close()
	origin.Put("/v.mp4", mediaorigin.File{Body: mediaorigin.Video("e2e", 64<<10), ContentType: "video/mp4"})
	origin.Put("/t.png", mediaorigin.File{Body: mediaorigin.Thumbnail("e2e", 32, 32), ContentType: "image/png"})
	// A sink, not devstacktest.Receiver: the benchmark measures the system,
	// and 200 callbacks a round nobody takes would fill the receiver's queue.
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer receiver.Close()
	secrets, err := webhook.ParseSecrets(devstacktest.Secret)
	if err != nil {
		b.Fatal(err)
	}
	stack := devstacktest.Start(b, devstacktest.Quiet, func(o *devstack.Options) {
		o.NoWorker, o.NoRateLimit, o.CallbackURL = true, true, receiver.URL
	})

	round := 0
	measure := func(start func(ctx context.Context) (stop func())) float64 {
		round++
		ctx, cancel := context.WithCancel(context.Background())
		stop := start(ctx)
		defer func() { cancel(); stop() }()
		ids := make([]string, notifications)
		for i := range ids {
			ids[i] = fmt.Sprintf("r%d-%d-%d", time.Now().UnixNano()%1e6, round, i)
		}
		began := time.Now()
		var wg sync.WaitGroup
		sem := make(chan struct{}, 16)
		for _, id := range ids {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				post(b, stack.IngressURL, id, originServer.URL)
			}()
		}
		wg.Wait()
		for _, id := range ids {
			if err := stack.Client.GetWorkflow(ctx, workflows.WorkflowID(id), "").Get(ctx, nil); err != nil {
				b.Fatalf("workflow %s: %v", id, err)
			}
		}
		return float64(notifications) / time.Since(began).Seconds()
	}

	policy := safehttp.Policy{AllowPrivate: true, AllowAnyPort: true}
	workerConfig := worker.Config{
		Namespace: devstack.Namespace, Bucket: stack.Bucket, Prefix: stack.Prefix, StorageEndpoint: stack.GCSURL,
		CallbackURL: receiver.URL, CallbackSecrets: secrets, Origins: policy, Callbacks: policy,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	realWorker := func(ctx context.Context) func() {
		done := make(chan error, 1)
		go func() { done <- worker.Run(ctx, workerConfig, stack.Client) }()
		return func() { <-done }
	}
	noopWorker := func(ctx context.Context) func() {
		var ws []sdkworker.Worker
		for _, q := range worker.AllTaskQueues {
			// The real worker's slots and timings (4 video transfers, 100
			// light activities): the SDK's defaults (1000 slots) would give
			// the no-op a concurrency the real worker does not have.
			opts, err := worker.SDKOptions(q, workerConfig)
			if err != nil {
				b.Fatal(err)
			}
			w := sdkworker.New(stack.Client, q, opts)
			if q == workflows.TaskQueue {
				w.RegisterWorkflowWithOptions(workflows.IngestVideo, workflow.RegisterOptions{Name: workflows.IngestVideoName})
			}
			registerNoopActivities(w, stack.Bucket)
			if err := w.Start(); err != nil {
				b.Fatal(err)
			}
			ws = append(ws, w)
		}
		return func() {
			for _, w := range ws {
				w.Stop()
			}
		}
	}

	var ratio, realRate, noopRate float64
	for b.Loop() {
		n := measure(noopWorker)
		r := measure(realWorker)
		ratio += r / n
		realRate += r
		noopRate += n
	}
	k := float64(b.N)
	b.ReportMetric(ratio/k, "ratio")
	b.ReportMetric(realRate/k, "real-completed/s")
	b.ReportMetric(noopRate/k, "noop-completed/s")
	reportGoal(b, ratio/k >= 0.8)
}

func post(b *testing.B, ingressURL, id, originURL string) {
	body, _ := json.Marshal(map[string]string{
		"videoContext": "bench", "wochitVideoId": id, "title": "bench",
		"videoUrl": originURL + "/v.mp4", "thumbnailUrl": originURL + "/t.png",
	})
	resp, err := http.Post(ingressURL+"/webhooks/wochit", "application/json", bytes.NewReader(body))
	if err != nil {
		b.Error(err)
		return
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		b.Errorf("ingress answered %d", resp.StatusCode)
	}
}

// registerNoopActivities registers activities with the real names that
// return at once, so the workflow has the same shape without the work.
func registerNoopActivities(w sdkworker.Worker, bucket string) {
	w.RegisterActivityWithOptions(func(_ context.Context, in activities.DestinationInput) (activities.Destination, error) {
		return activities.Destination{Bucket: bucket, Dir: "videos/" + in.WochitVideoID + "/"}, nil
	}, activity.RegisterOptions{Name: "Destination"})
	w.RegisterActivityWithOptions(func(_ context.Context, in activities.TransferInput) (activities.TransferResult, error) {
		name := "videos/" + in.WochitVideoID + "/" + string(in.Kind)
		return activities.TransferResult{Object: contract.StoredObject{Bucket: bucket, Name: name, URI: "gs://" + bucket + "/" + name}}, nil
	}, activity.RegisterOptions{Name: "TransferToGCS"})
	w.RegisterActivityWithOptions(func(_ context.Context, in activities.CallbackInput) (activities.CallbackAttempt, error) {
		return activities.CallbackAttempt{Attempt: in.Attempt, StatusCode: 204, Outcome: activities.AttemptDelivered}, nil
	}, activity.RegisterOptions{Name: "DeliverCallback"})
}

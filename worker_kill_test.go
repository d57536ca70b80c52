package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wochit-ingest/wochit-ingest/contract"

	"cloud.google.com/go/storage"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"google.golang.org/api/iterator"

	"github.com/wochit-ingest/wochit-ingest/activities"
	"github.com/wochit-ingest/wochit-ingest/devstack"
	"github.com/wochit-ingest/wochit-ingest/devstack/gcsemu"
	"github.com/wochit-ingest/wochit-ingest/devstack/mediaorigin"
	"github.com/wochit-ingest/wochit-ingest/docs"
)

// childCommandEnv makes the test binary run a wochit-ingest command (with
// signal handling, like main) instead of the tests, so a test can run
// workers and ingresses as child processes, signal them and kill them.
const childCommandEnv = "WOCHIT_TEST_RUN_COMMAND"

func TestMain(m *testing.M) {
	if cmd := os.Getenv(childCommandEnv); cmd != "" {
		os.Exit(runWithSignals(strings.Fields(cmd)))
	}
	os.Exit(m.Run())
}

const killTestSecret = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"

// A worker process is killed with SIGKILL in the middle of a multi-part
// video transfer, 4 parts at a time. Another worker resumes it after the
// heartbeat timeout: it asks the origin for 512 bytes instead of the first
// part, continues in the first worker's part size and fetches again at most
// the parts that were in flight (part size × concurrency), and the stored
// video is byte-identical with no temporary parts left.
func TestWorkerKilledMidTransferResumes(t *testing.T) {
	endToEnd(t)
	const partSize, concurrency = 1 << 20, 4
	stack := startStackWithoutWorker(t)

	origin := mediaorigin.New()
	originServer := httptest.NewServer(origin)
	defer originServer.Close()
	video := mediaorigin.Video("killed", 32*partSize)
	origin.Put("/v.mp4", mediaorigin.File{Body: video, ContentType: "video/mp4", BytesPerSecond: 1 << 20})
	origin.Put("/t.png", mediaorigin.File{Body: mediaorigin.Thumbnail("killed", 32, 32), ContentType: "image/png"})
	callbacks := newCallbackSink(t)

	env := append(workerEnv(stack, originServer.URL, callbacks.url),
		"TRANSFER_PART_SIZE=1MiB", fmt.Sprintf("TRANSFER_PART_CONCURRENCY=%d", concurrency))
	first := startChild(t, env)

	resp, err := http.Post(stack.IngressURL+"/webhooks/wochit", "application/json", strings.NewReader(fmt.Sprintf(
		`{"videoContext":"c","wochitVideoId":"killed-1","title":"t","videoUrl":"%s/v.mp4","thumbnailUrl":"%s/t.png"}`,
		originServer.URL, originServer.URL)))
	if err != nil || resp.StatusCode != http.StatusAccepted {
		t.Fatalf("POST: %v %v", err, resp)
	}
	resp.Body.Close()

	gcs, err := gcsemu.NewClient(context.Background(), stack.GCSURL)
	if err != nil {
		t.Fatal(err)
	}
	defer gcs.Close()
	partsPrefix := stack.Prefix + ".parts/killed-1/video/"

	// Kill the worker once Temporal holds a heartbeat listing finished
	// parts (heartbeats are sent every few seconds), with parts in flight.
	waitUntil(t, time.Minute, "a heartbeat with finished parts", func() bool {
		p, ok := videoHeartbeat(t, stack, "wochit-video-killed-1")
		return ok && p.PartSize == partSize && p.Validator != "" && len(p.Parts) > 0
	})
	killedAt := time.Now()
	if err := first.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := first.Wait(); err == nil || !strings.Contains(err.Error(), "killed") {
		t.Fatalf("the worker was not killed: %v", err)
	}
	sentAtKill := origin.Stats("/v.mp4").BytesSent
	partsAtKill := objectNames(t, gcs, stack.Bucket, partsPrefix)
	if sentAtKill > int64(len(video))-4*partSize || len(partsAtKill) == 0 || len(partsAtKill) >= 32 {
		t.Fatalf("at the kill the origin had sent %d of %d bytes and %d parts were stored; want a transfer in mid-way", sentAtKill, len(video), len(partsAtKill))
	}
	requestsBefore := len(origin.Requests("/v.mp4"))

	second := startChild(t, env)
	defer func() { second.Process.Kill(); second.Wait() }()

	event := callbacks.next(t, 2*time.Minute)
	if event.Type != contract.VideoStored {
		t.Fatalf("event = %+v", event)
	}
	r, err := gcs.Bucket(stack.Bucket).Object(event.Data.Video.Name).NewReader(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	stored, _ := io.ReadAll(r)
	r.Close()
	if !bytes.Equal(stored, video) {
		t.Fatalf("the stored video (%d bytes) differs from the origin's (%d bytes)", len(stored), len(video))
	}

	after := origin.Requests("/v.mp4")[requestsBefore:]
	if len(after) == 0 {
		t.Fatal("the second worker never asked the origin for anything")
	}
	if wait := after[0].At.Sub(killedAt); wait > 20*time.Second+5*time.Second {
		t.Fatalf("the retry started %s after the kill; want within the heartbeat timeout (20s) and a few seconds", wait)
	}
	// The resumed attempt probes 512 bytes, then asks for whole 1 MiB parts
	// of the same version.
	if after[0].Range != "bytes=0-511" {
		t.Fatalf("the resumed attempt's first request asked for %q, want bytes=0-511", after[0].Range)
	}
	for _, req := range after[1:] {
		var from, to int64
		if _, err := fmt.Sscanf(req.Range, "bytes=%d-%d", &from, &to); err != nil || from%partSize != 0 || to-from+1 != partSize || req.IfRange == "" {
			t.Fatalf("the resumed attempt asked for %q (If-Range %q); want a whole 1 MiB part of the same version", req.Range, req.IfRange)
		}
	}
	again := origin.Stats("/v.mp4").BytesSent - int64(len(video))
	if limit := int64(partSize*concurrency + 512); again > limit {
		t.Fatalf("the origin sent %d bytes more than the video's %d: more than the %d parts in flight (%d bytes) were downloaded twice",
			again, len(video), concurrency, limit)
	}
	t.Logf("killed after %d bytes with %d parts stored; %d bytes fetched again (limit %d)", sentAtKill, len(partsAtKill), again, partSize*concurrency+512)
	if left := objectNames(t, gcs, stack.Bucket, stack.Prefix+".parts/"); len(left) != 0 {
		t.Fatalf("temporary parts remain: %v", left)
	}
}

// videoHeartbeat is the last heartbeat Temporal holds for the workflow's
// pending video transfer.
func videoHeartbeat(t *testing.T, stack *devstack.Stack, workflowID string) (activities.TransferProgress, bool) {
	t.Helper()
	desc, err := stack.Client.DescribeWorkflowExecution(context.Background(), workflowID, "")
	if err != nil {
		return activities.TransferProgress{}, false
	}
	for _, a := range desc.GetPendingActivities() {
		var p activities.TransferProgress
		if a.GetHeartbeatDetails() != nil && stack.DataConverter.FromPayloads(a.GetHeartbeatDetails(), &p) == nil && p.Kind == contract.KindVideo {
			return p, true
		}
	}
	return activities.TransferProgress{}, false
}

// objectNames lists the names under prefix.
func objectNames(t *testing.T, gcs *storage.Client, bucket, prefix string) []string {
	t.Helper()
	var names []string
	it := gcs.Bucket(bucket).Objects(context.Background(), &storage.Query{Prefix: prefix})
	for {
		attrs, err := it.Next()
		if err == iterator.Done {
			return names
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, attrs.Name)
	}
}

// startStackWithoutWorker starts Temporal, the GCS emulator and the ingress
// on random ports; the test runs workers as child processes.
func startStackWithoutWorker(t *testing.T) *devstack.Stack {
	t.Helper()
	stack, err := devstack.Start(context.Background(), devstack.Options{
		DataDir:      t.TempDir(),
		TemporalAddr: "127.0.0.1:0", GCSAddr: "127.0.0.1:0", IngressAddr: "127.0.0.1:0", DevAddr: "127.0.0.1:0",
		NoWorker: true,
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stack.Stop(context.Background()) })
	return stack
}

// startChild runs the command named in env (childCommandEnv) as a child
// process, and prints its output if the test fails.
func startChild(t *testing.T, env []string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("worker process %d output:\n%s", cmd.Process.Pid, out.String())
		}
	})
	return cmd
}

// workerEnv configures a child `worker` process against stack, fetching media
// from originURL and calling back callbackURL.
func workerEnv(stack *devstack.Stack, originURL, callbackURL string) []string {
	return []string{
		childCommandEnv + "=worker",
		"TEMPORAL_ADDRESS=" + stack.TemporalAddr, "TEMPORAL_NAMESPACE=" + devstack.Namespace,
		"PAYLOAD_KEYS=" + stack.PayloadKeys,
		"GCS_BUCKET=" + stack.Bucket, "STORAGE_EMULATOR_HOST=" + stack.GCSURL,
		"CALLBACK_URL=" + callbackURL, "CALLBACK_SECRET=" + killTestSecret,
		"ORIGIN_ALLOW_PRIVATE=true", "CALLBACK_ALLOW_PRIVATE=true",
		"OUTBOUND_ALLOWED_PORTS=" + portOf(originURL) + "," + portOf(callbackURL),
		"LOG_LEVEL=warn", "WORKER_HTTP_ADDR=127.0.0.1:0",
	}
}

func portOf(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		panic(err)
	}
	return u.Port()
}

// callbackSink receives callbacks, verified with the reference library.
type callbackSink struct {
	url    string
	events chan contract.Event
}

func newCallbackSink(t *testing.T) *callbackSink {
	wh, err := standardwebhooks.NewWebhook(killTestSecret)
	if err != nil {
		t.Fatal(err)
	}
	s := &callbackSink{events: make(chan contract.Event, 10)}
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := wh.Verify(body, r.Header); err != nil {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		if err := docs.CheckCallback(r.Header, body); err != nil {
			t.Errorf("callback does not follow the customer's contract: %v", err)
		}
		var ev contract.Event
		_ = json.Unmarshal(body, &ev)
		mu.Lock()
		defer mu.Unlock()
		s.events <- ev
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	s.url = srv.URL + "/hooks"
	return s
}

func (s *callbackSink) next(t *testing.T, timeout time.Duration) contract.Event {
	t.Helper()
	select {
	case ev := <-s.events:
		return ev
	case <-time.After(timeout):
		t.Fatalf("no callback within %s", timeout)
		return contract.Event{}
	}
}

// waitUntil polls cond until it holds or the timeout passes.
func waitUntil(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

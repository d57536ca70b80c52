package commands

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/wochit-ingest/wochit-ingest/contract"

	"cloud.google.com/go/storage"
	"google.golang.org/api/iterator"

	"github.com/wochit-ingest/wochit-ingest/activities"
	"github.com/wochit-ingest/wochit-ingest/devstack"
	"github.com/wochit-ingest/wochit-ingest/devstack/devstacktest"
	"github.com/wochit-ingest/wochit-ingest/devstack/gcsemu"
	"github.com/wochit-ingest/wochit-ingest/devstack/mediaorigin"
	"github.com/wochit-ingest/wochit-ingest/internal/config"
	"github.com/wochit-ingest/wochit-ingest/workflows"
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

// A worker process is killed with SIGKILL in the middle of a multi-part
// video transfer, 4 parts at a time. Another worker resumes it after the
// heartbeat timeout: it asks the origin for 512 bytes instead of the first
// part, continues in the first worker's part size, never fetches again a
// part the heartbeat recorded, fetches again at most the parts that were in
// flight, and the stored video is the origin's with no temporary parts left.
//
// The re-download bound, term by term (README, Parts and resume): each part
// in flight at the kill is fetched once more (at most TRANSFER_PART_CONCURRENCY
// of them), and what the origin had sent of it before the kill is lost — up
// to the whole part, since the origin writes ahead into socket buffers while
// the worker still uploads (most runs lose exactly that); the resumed
// attempt's probe adds 512 bytes. So the bound is
// parts-fetched-twice × part size + 512 ≤ part size × concurrency + 512, and
// its one slack term is the probe. Parts run at 1 MiB by default; set
// WORKER_KILL_PART_SIZE=16MiB to measure the default configuration (32 parts
// of 16 MiB: 512 MiB through the emulator, a few minutes).
//
// Mutations: verifiedParts dropping the heartbeat's record (keeping no part)
// fails "fetched again a part the heartbeat recorded"; a heartbeat timeout
// longer than documented fails the resume-time bound.
func TestWorkerKilledMidTransferResumes(t *testing.T) {
	devstacktest.EndToEnd(t)
	const parts, concurrency, probe = 32, 4, 512
	partSize := int64(1 << 20)
	if v := os.Getenv("WORKER_KILL_PART_SIZE"); v != "" {
		var err error
		if partSize, err = config.ParseBytes(v); err != nil || partSize < 1<<20 {
			t.Fatalf("WORKER_KILL_PART_SIZE=%q: want a size of at least 1MiB", v)
		}
	}
	stack := startStackWithoutWorker(t)

	origin := mediaorigin.New()
	originServer := httptest.NewServer(origin)
	defer originServer.Close()
	size := parts * partSize
	video := mediaorigin.NewGenerated("killed", size)
	// Each part takes about a second.
	origin.Put("/v.mp4", mediaorigin.File{Source: video, Size: size, ContentType: "video/mp4", BytesPerSecond: partSize})
	origin.Put("/t.png", mediaorigin.File{Body: mediaorigin.Thumbnail("killed", 32, 32), ContentType: "image/png"})
	callbacks := devstacktest.NewReceiver(t)

	env := append(workerEnv(stack, originServer.URL, callbacks.URL),
		fmt.Sprintf("TRANSFER_PART_SIZE=%d", partSize), fmt.Sprintf("TRANSFER_PART_CONCURRENCY=%d", concurrency))
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
	var recorded activities.TransferProgress
	devstacktest.WaitFor(t, 2*time.Minute, "a heartbeat with finished parts", func() bool {
		p, ok := videoHeartbeat(t, stack, "wochit-video-killed-1")
		recorded = p
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
	if sentAtKill > size-concurrency*partSize || len(partsAtKill) == 0 || len(partsAtKill) >= parts {
		t.Fatalf("at the kill the origin had sent %d of %d bytes and %d parts were stored; want a transfer in mid-way", sentAtKill, size, len(partsAtKill))
	}
	before := origin.Requests("/v.mp4")

	second := startChild(t, env)
	defer func() { second.Process.Kill(); second.Wait() }()

	event := callbacks.Next(3 * time.Minute).Event
	if event.Type != contract.VideoStored {
		t.Fatalf("event = %+v", event)
	}
	sameContent(t, gcs, stack.Bucket, event.Data.Video.Name, video, size)

	after := origin.Requests("/v.mp4")[len(before):]
	if len(after) == 0 {
		t.Fatal("the second worker never asked the origin for anything")
	}
	// Resumed within the documented bound: the heartbeat timeout, then the
	// retry's first backoff (2 s) and a few seconds to dispatch.
	if wait, bound := after[0].At.Sub(killedAt), workflows.TransferHeartbeatTimeout+10*time.Second; wait > bound {
		t.Fatalf("the retry started %s after the kill; want within %s (the heartbeat timeout, the retry backoff and dispatch)", wait, bound)
	}
	// The resumed attempt probes 512 bytes, then asks for whole parts of
	// the same version.
	if after[0].Range != fmt.Sprintf("bytes=0-%d", probe-1) {
		t.Fatalf("the resumed attempt's first request asked for %q, want bytes=0-%d", after[0].Range, probe-1)
	}
	fetched := map[int64]bool{}
	for _, req := range before {
		var from, to int64
		if _, err := fmt.Sscanf(req.Range, "bytes=%d-%d", &from, &to); err == nil {
			fetched[from/partSize] = true
		}
	}
	done := map[int64]bool{}
	for _, p := range recorded.Parts {
		done[int64(p.Index)] = true
	}
	twice := 0
	for _, req := range after[1:] {
		var from, to int64
		if _, err := fmt.Sscanf(req.Range, "bytes=%d-%d", &from, &to); err != nil || from%partSize != 0 || to-from+1 != partSize || req.IfRange == "" {
			t.Fatalf("the resumed attempt asked for %q (If-Range %q); want a whole part of the same version", req.Range, req.IfRange)
		}
		if done[from/partSize] {
			t.Fatalf("the resumed attempt fetched again part %d, which the heartbeat recorded as finished", from/partSize)
		}
		if fetched[from/partSize] {
			twice++
		}
	}
	if twice > concurrency {
		t.Fatalf("%d parts were fetched again; want at most the %d in flight", twice, concurrency)
	}
	again := origin.Stats("/v.mp4").BytesSent - size
	if limit := int64(twice)*partSize + probe; again > limit {
		t.Fatalf("the origin sent %d bytes more than the video's %d; want at most the %d parts fetched twice and the probe (%d bytes)",
			again, size, twice, limit)
	}
	t.Logf("part size %d: killed after %d bytes with %d parts stored and %d recorded; resumed %s later; %d parts fetched twice; %d bytes fetched again (bound %d, the design's %d)",
		partSize, sentAtKill, len(partsAtKill), len(recorded.Parts), after[0].At.Sub(killedAt).Round(100*time.Millisecond), twice, again, int64(twice)*partSize+probe, concurrency*partSize+probe)
	if left := objectNames(t, gcs, stack.Bucket, stack.Prefix+".parts/"); len(left) != 0 {
		t.Fatalf("temporary parts remain: %v", left)
	}
}

// sameContent fails unless the object holds exactly size bytes of want.
func sameContent(t *testing.T, gcs *storage.Client, bucket, name string, want io.ReaderAt, size int64) {
	t.Helper()
	r, err := gcs.Bucket(bucket).Object(name).NewReader(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	got, exp := make([]byte, 1<<20), make([]byte, 1<<20)
	var off int64
	for {
		n, err := io.ReadFull(r, got)
		if n > 0 {
			if m, _ := want.ReadAt(exp[:n], off); m != n || !bytes.Equal(got[:n], exp[:n]) {
				t.Fatalf("the stored video differs from the origin's in the MiB at offset %d", off)
			}
			off += int64(n)
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if off != size {
		t.Fatalf("the stored video has %d bytes, the origin's %d", off, size)
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
	return devstacktest.Start(t, devstacktest.Quiet, func(o *devstack.Options) { o.NoWorker = true })
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
		"CALLBACK_URL=" + callbackURL, "CALLBACK_SECRET=" + devstacktest.Secret,
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

package devstack_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/wochit-ingest/wochit-ingest/contract"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"

	"github.com/wochit-ingest/wochit-ingest/activities"
	"github.com/wochit-ingest/wochit-ingest/devstack"
	"github.com/wochit-ingest/wochit-ingest/devstack/devstacktest"
	"github.com/wochit-ingest/wochit-ingest/devstack/gcsemu"
	"github.com/wochit-ingest/wochit-ingest/devstack/mediaorigin"
	"github.com/wochit-ingest/wochit-ingest/internal/crc32c"
	"github.com/wochit-ingest/wochit-ingest/workflows"
)

// addrs are the stack's addresses; zero ports pick free ones.
type addrs struct{ temporal, gcs, ingress, dev string }

// startStack starts a stack on addresses a with its data in dir, calling
// back callbackURL, with a short worker stop timeout and small upload
// chunks; tune changes the options further.
func startStack(t *testing.T, dir string, a addrs, callbackURL string, tune ...func(*devstack.Options)) *devstack.Stack {
	t.Helper()
	return devstacktest.Start(t, append([]func(*devstack.Options){func(o *devstack.Options) {
		o.DataDir = dir
		o.TemporalAddr, o.GCSAddr, o.IngressAddr, o.DevAddr = a.temporal, a.gcs, a.ingress, a.dev
		o.CallbackURL = callbackURL
		o.WorkerStopTimeout = 200 * time.Millisecond
		o.Transfer = activities.TransferSettings{ChunkSize: 256 << 10}
	}}, tune...)...)
}

func randomAddrs() addrs {
	return addrs{"127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"}
}

func (a addrs) of(s *devstack.Stack) addrs {
	strip := func(u string) string { return u[len("http://"):] }
	return addrs{s.TemporalAddr, strip(s.GCSURL), strip(s.IngressURL), strip(s.DevURL)}
}

func postNotification(t *testing.T, ingressURL string, n map[string]string) map[string]string {
	t.Helper()
	body, _ := json.Marshal(n)
	resp, err := http.Post(ingressURL+"/webhooks/wochit", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]string
	_ = json.NewDecoder(resp.Body).Decode(&out)
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("ingress answered %d %v", resp.StatusCode, out)
	}
	return out
}

// checkStored asserts the object holds exactly want and that the callback
// reported its checksums as GCS shows them.
func checkStored(t *testing.T, gcsURL string, obj *contract.StoredObject, want []byte) {
	t.Helper()
	if obj == nil {
		t.Fatal("callback lacks an object")
	}
	c, err := gcsemu.NewClient(context.Background(), gcsURL)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r, err := c.Bucket(obj.Bucket).Object(obj.Name).NewReader(context.Background())
	if err != nil {
		t.Fatalf("reading %s: %v", obj.URI, err)
	}
	got, err := io.ReadAll(r)
	r.Close()
	if err != nil {
		t.Fatal(err)
	}
	if sha256.Sum256(got) != sha256.Sum256(want) {
		t.Fatalf("%s: stored %d bytes differ from the origin's %d bytes", obj.URI, len(got), len(want))
	}
	sum := md5.Sum(want)
	if obj.Size != int64(len(want)) || obj.CRC32C != crc32c.Encode(crc32c.Checksum(want)) || obj.MD5 != base64.StdEncoding.EncodeToString(sum[:]) {
		t.Fatalf("callback reports %+v; want size %d and the checksums of the origin's bytes", obj, len(want))
	}
}

func TestEndToEnd(t *testing.T) {
	devstacktest.EndToEnd(t)
	origin := mediaorigin.New()
	originServer := httptest.NewServer(origin)
	defer originServer.Close()
	video := mediaorigin.VideoWith("e2e", 3<<20+17, mediaorigin.VideoOptions{FastStart: true, Width: 1920, Height: 1080, Duration: 3 * time.Second})
	thumbnail := mediaorigin.Thumbnail("e2e", 160, 90)
	origin.Put("/v/final.mp4", mediaorigin.File{Body: video, ContentType: "video/mp4"})
	origin.Put("/t/final.png", mediaorigin.File{Body: thumbnail, ContentType: "image/png"})
	recv := devstacktest.NewReceiver(t)

	stack := startStack(t, t.TempDir(), randomAddrs(), recv.URL)
	defer stack.Stop(context.Background())

	started := postNotification(t, stack.IngressURL, map[string]string{
		"videoContext": "page-7", "wochitVideoId": "e2e-1", "title": "End to end",
		"videoUrl": originServer.URL + "/v/final.mp4?token=abc", "thumbnailUrl": originServer.URL + "/t/final.png?token=abc",
	})
	d := recv.Next(2 * time.Minute)
	ev := d.Event
	if ev.Type != contract.VideoStored || ev.Data.WochitVideoID != "e2e-1" || ev.Data.VideoContext != "page-7" ||
		ev.Data.Title != "End to end" || ev.Data.WorkflowID != started["workflowId"] {
		t.Fatalf("event = %+v", ev)
	}
	if ev.Data.Video.URI != "gs://wochit-videos/videos/e2e-1/video.mp4" || ev.Data.Thumbnail.URI != "gs://wochit-videos/videos/e2e-1/thumbnail.png" {
		t.Fatalf("objects = %s, %s", ev.Data.Video.URI, ev.Data.Thumbnail.URI)
	}
	checkStored(t, stack.GCSURL, ev.Data.Video, video)
	checkStored(t, stack.GCSURL, ev.Data.Thumbnail, thumbnail)
	// What the player needs, as the backend receives it.
	if want := `"media":{"durationMs":3000,"width":1920,"height":1080,"codec":"avc1.4D4028","fastStart":true}`; !bytes.Contains(d.Body, []byte(want)) {
		t.Fatalf("the video.stored body lacks %s: %s", want, d.Body)
	}
	if bytes.Count(d.Body, []byte(`"media"`)) != 1 {
		t.Fatalf("the thumbnail carries media metadata: %s", d.Body)
	}

	desc, err := stack.Client.DescribeWorkflowExecution(context.Background(), started["workflowId"], started["runId"])
	if err != nil {
		t.Fatal(err)
	}
	// The callback is the workflow's last step; give it a moment to close.
	devstacktest.WaitFor(t, 30*time.Second, "workflow to complete", func() bool {
		desc, err = stack.Client.DescribeWorkflowExecution(context.Background(), started["workflowId"], started["runId"])
		return err == nil && desc.GetWorkflowExecutionInfo().GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED
	})
	checkOperatorView(t, stack, started["workflowId"], started["runId"])
}

// checkOperatorView asserts what an operator finds in the Web UI for a run
// started through the ingress, as the server reports it: the search
// attributes, the memo, the one-line summary and the activity summaries.
func checkOperatorView(t *testing.T, stack *devstack.Stack, workflowID, runID string) {
	t.Helper()
	ctx := context.Background()
	desc, err := stack.Client.DescribeWorkflowExecution(ctx, workflowID, runID)
	if err != nil {
		t.Fatal(err)
	}
	info := desc.GetWorkflowExecutionInfo()
	dc := stack.DataConverter
	decode := func(p *commonpb.Payload) string {
		var v string
		if p == nil || dc.FromPayload(p, &v) != nil {
			return "<none>"
		}
		return v
	}
	want := map[string]string{"WochitVideoId": "e2e-1", "VideoContext": "page-7", "IngestStage": "completed", "CallbackStatus": "delivered"}
	for name, value := range want {
		if got := decode(info.GetSearchAttributes().GetIndexedFields()[name]); got != value {
			t.Errorf("search attribute %s = %q, want %q", name, got, value)
		}
	}
	if got := decode(info.GetMemo().GetFields()["title"]); got != "End to end" {
		t.Errorf("memo title = %q", got)
	}
	if got := decode(desc.GetExecutionConfig().GetUserMetadata().GetSummary()); got != "Ingest “End to end” (e2e-1)" {
		t.Errorf("summary = %q", got)
	}
	// The video transfer's summary says where the file goes.
	var summaries []string
	it := stack.Client.GetWorkflowHistory(ctx, workflowID, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		if ev.GetActivityTaskScheduledEventAttributes() != nil {
			summaries = append(summaries, decode(ev.GetUserMetadata().GetSummary()))
		}
	}
	if !slices.Contains(summaries, "video → gs://wochit-videos/videos/e2e-1/video") {
		t.Errorf("activity summaries = %q, want the video's destination among them", summaries)
	}
	// Found by video id through visibility, as the Web UI's search does.
	devstacktest.WaitFor(t, 10*time.Second, "the run to be found by WochitVideoId", func() bool {
		resp, err := stack.Client.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Namespace: devstack.Namespace, Query: `WochitVideoId = "e2e-1"`,
		})
		return err == nil && len(resp.GetExecutions()) == 1
	})
}

// The whole dev stack stops while a video of 8 parts is being copied, 2
// parts at a time, and starts again on the same data directory: the run
// resumes. Parts the heartbeat recorded as finished before the stop are not
// asked for again (the origin's request log), the resumed attempt probes
// 512 bytes first, at most the 2 parts in flight are fetched twice, and the
// stored video is the origin's byte for byte.
//
// Mutation: verifiedParts keeping no part fails "asked for part N again".
func TestRestartResumesInFlightTransfer(t *testing.T) {
	devstacktest.EndToEnd(t)
	const partSize, parts, concurrency = 1 << 20, 8, 2
	origin := mediaorigin.New()
	originServer := httptest.NewServer(origin)
	defer originServer.Close()
	video := mediaorigin.Video("restart", parts*partSize)
	thumbnail := mediaorigin.Thumbnail("restart", 64, 64)
	origin.Put("/v.mp4", mediaorigin.File{Body: video, ContentType: "video/mp4", BytesPerSecond: 512 << 10}) // 2 s a part
	origin.Put("/t.png", mediaorigin.File{Body: thumbnail, ContentType: "image/png"})
	recv := devstacktest.NewReceiver(t)
	dir := t.TempDir()
	inParts := func(o *devstack.Options) {
		o.Transfer.PartSize, o.Transfer.PartConcurrency, o.Transfer.MinPartSize = partSize, concurrency, partSize
	}

	first := startStack(t, dir, randomAddrs(), recv.URL, inParts)
	started := postNotification(t, first.IngressURL, map[string]string{
		"videoContext": "ctx", "wochitVideoId": "restart-1", "title": "Restart",
		"videoUrl": originServer.URL + "/v.mp4", "thumbnailUrl": originServer.URL + "/t.png",
	})
	// Stop once Temporal holds a heartbeat listing finished parts.
	var recorded activities.TransferProgress
	devstacktest.WaitFor(t, time.Minute, "a heartbeat with finished parts", func() bool {
		recorded = videoProgress(t, first, started["workflowId"])
		return recorded.PartSize == partSize && len(recorded.Parts) > 0
	})
	// The status query answers during the transfer.
	v, err := first.Client.QueryWorkflow(context.Background(), started["workflowId"], started["runId"], workflows.StatusQuery)
	if err != nil {
		t.Fatal(err)
	}
	var st workflows.Status
	if err := v.Get(&st); err != nil {
		t.Fatal(err)
	}
	if st.Stage != workflows.StageTransferring || st.Destination.URI() != "gs://wochit-videos/videos/restart-1/" || st.Deadlines.Video.IsZero() {
		t.Fatalf("status during the transfer = %+v", st)
	}
	addresses := randomAddrs().of(first)
	if err := first.Stop(context.Background()); err != nil {
		t.Fatalf("stopping: %v", err)
	}
	if len(recorded.Parts) >= parts {
		t.Fatalf("every part was finished before the stop; the test did not interrupt a transfer")
	}
	if n := len(recv.All()); n != 0 {
		t.Fatalf("%d callbacks before the restart, want 0", n)
	}
	before := origin.Requests("/v.mp4")

	origin.Put("/v.mp4", mediaorigin.File{Body: video, ContentType: "video/mp4"}) // the same version, full speed now
	second := startStack(t, dir, addresses, recv.URL, inParts)
	defer second.Stop(context.Background())

	d := recv.Next(2 * time.Minute)
	if d.Event.Type != contract.VideoStored || d.Event.Data.WorkflowID != started["workflowId"] {
		t.Fatalf("event = %+v", d.Event)
	}
	checkComposed(t, second.GCSURL, d.Event.Data.Video, video)
	checkStored(t, second.GCSURL, d.Event.Data.Thumbnail, thumbnail)

	after := origin.Requests("/v.mp4")[len(before):]
	if len(after) == 0 || after[0].Range != "bytes=0-511" {
		t.Fatalf("the resumed attempt's requests: %+v; want a 512-byte probe first", after)
	}
	finished, fetched := map[int]bool{}, map[int]bool{}
	for _, p := range recorded.Parts {
		finished[p.Index] = true
	}
	for _, r := range before {
		var from, to int
		if _, err := fmt.Sscanf(r.Range, "bytes=%d-%d", &from, &to); err == nil {
			fetched[from/partSize] = true
		}
	}
	twice := 0
	for _, r := range after[1:] {
		var from, to int
		if _, err := fmt.Sscanf(r.Range, "bytes=%d-%d", &from, &to); err != nil || from%partSize != 0 || to-from+1 != partSize {
			t.Fatalf("the resumed attempt asked for %q; want whole parts", r.Range)
		}
		if finished[from/partSize] {
			t.Fatalf("the resumed attempt asked for part %d again, which was finished before the restart (heartbeat: %d parts)", from/partSize, len(recorded.Parts))
		}
		if fetched[from/partSize] {
			twice++
		}
	}
	if twice > concurrency {
		t.Fatalf("%d parts were fetched twice; want at most the %d in flight", twice, concurrency)
	}
	t.Logf("stopped with %d of %d parts recorded; the resumed attempt fetched %d parts, %d of them a second time", len(recorded.Parts), parts, len(after)-1, twice)

	devstacktest.WaitFor(t, 30*time.Second, "workflow to complete", func() bool {
		desc, err := second.Client.DescribeWorkflowExecution(context.Background(), started["workflowId"], started["runId"])
		return err == nil && desc.GetWorkflowExecutionInfo().GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED
	})
	ids := map[string]bool{}
	for _, d := range recv.All() {
		ids[d.ID] = true
	}
	if len(ids) != 1 {
		t.Fatalf("callbacks carried %d different webhook-ids, want 1: %v", len(ids), ids)
	}
}

// videoProgress is the last heartbeat Temporal holds for the run's pending
// video transfer (the zero value when there is none).
func videoProgress(t *testing.T, s *devstack.Stack, workflowID string) activities.TransferProgress {
	t.Helper()
	desc, err := s.Client.DescribeWorkflowExecution(context.Background(), workflowID, "")
	if err != nil {
		return activities.TransferProgress{}
	}
	for _, a := range desc.GetPendingActivities() {
		var p activities.TransferProgress
		if a.GetHeartbeatDetails() != nil && s.DataConverter.FromPayloads(a.GetHeartbeatDetails(), &p) == nil && p.Kind == contract.KindVideo {
			return p
		}
	}
	return activities.TransferProgress{}
}

// checkComposed asserts a video composed from parts holds exactly want, as
// the callback reports it: its size and CRC32C (and its MD5, if reported:
// GCS computes none for a composed object).
func checkComposed(t *testing.T, gcsURL string, obj *contract.StoredObject, want []byte) {
	t.Helper()
	if obj == nil {
		t.Fatal("callback lacks an object")
	}
	c, err := gcsemu.NewClient(context.Background(), gcsURL)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r, err := c.Bucket(obj.Bucket).Object(obj.Name).NewReader(context.Background())
	if err != nil {
		t.Fatalf("reading %s: %v", obj.URI, err)
	}
	got, err := io.ReadAll(r)
	r.Close()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s: stored %d bytes differ from the origin's %d bytes", obj.URI, len(got), len(want))
	}
	sum := md5.Sum(want)
	if obj.Size != int64(len(want)) || obj.CRC32C != crc32c.Encode(crc32c.Checksum(want)) || (obj.MD5 != "" && obj.MD5 != base64.StdEncoding.EncodeToString(sum[:])) {
		t.Fatalf("callback reports %+v; want size %d and the checksums of the origin's bytes", obj, len(want))
	}
}

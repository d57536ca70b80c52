package activities_test

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wochit-ingest/wochit-ingest/contract"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/wochit-ingest/wochit-ingest/activities"
	"github.com/wochit-ingest/wochit-ingest/devstack/mediaorigin"
	"github.com/wochit-ingest/wochit-ingest/transfer"
)

const testHeartbeatTimeout = 500 * time.Millisecond

// transferOnce runs one attempt of TransferToGCS with a short heartbeat
// timeout, which the test environment enforces.
func transferOnce(ctx workflow.Context, in activities.TransferInput) (activities.TransferResult, error) {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: time.Minute,
		HeartbeatTimeout:    testHeartbeatTimeout,
		RetryPolicy:         &temporal.RetryPolicy{MaximumAttempts: 1},
	})
	var a *activities.Activities
	var res activities.TransferResult
	err := workflow.ExecuteActivity(ctx, a.TransferToGCS, in).Get(ctx, &res)
	return res, err
}

// An origin that takes longer than the heartbeat timeout to send its
// headers, or stalls in the middle of a small file (read whole before its
// upload), does not time the attempt out: the attempt heartbeats while it
// waits. The origin is released only once heartbeats have been seen for
// several heartbeat timeouts after its request arrived.
func TestSlowOriginsDoNotTimeOutTheHeartbeat(t *testing.T) {
	thumb := mediaorigin.Thumbnail("slow", 128, 128)
	video := mediaorigin.Video("slow", 3<<20)
	tests := []struct {
		name string
		kind contract.AssetKind
		file func(release <-chan struct{}) mediaorigin.File
		body []byte
	}{
		{"headers after the heartbeat timeout", contract.KindThumbnail, func(release <-chan struct{}) mediaorigin.File {
			return mediaorigin.File{Body: thumb, ContentType: "image/png", Hold: release}
		}, thumb},
		{"small file stalling mid-body", contract.KindVideo, func(release <-chan struct{}) mediaorigin.File {
			return mediaorigin.File{Body: video, ContentType: "video/mp4", Pause: release, PauseAfter: 1 << 20}
		}, video},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			f.acts.Transfer.HeartbeatInterval = 50 * time.Millisecond
			f.acts.Transfer.ChunkSize = 4 << 20 // the video is small: read whole, then uploaded

			release := make(chan struct{})
			var releaseOnce sync.Once
			var arrived time.Time
			var mu sync.Mutex
			released := false
			origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				if arrived.IsZero() {
					arrived = time.Now()
				}
				mu.Unlock()
				f.origin.ServeHTTP(w, r)
			}))
			defer origin.Close()
			f.origin.Put("/f", tt.file(release))
			// Should the attempt stop heartbeating, the origin is released
			// anyway, so the test fails instead of hanging.
			failsafe := time.AfterFunc(20*testHeartbeatTimeout, func() { releaseOnce.Do(func() { close(release) }) })
			defer failsafe.Stop()

			suite := &testsuite.WorkflowTestSuite{}
			suite.SetLogger(log.NewStructuredLogger(slog.New(slog.NewTextHandler(f.logs, nil))))
			env := suite.NewTestWorkflowEnvironment()
			env.SetTestTimeout(time.Minute)
			env.RegisterActivity(f.acts)
			env.RegisterWorkflow(transferOnce)
			env.SetOnActivityHeartbeatListener(func(*activity.Info, converter.EncodedValues) {
				mu.Lock()
				defer mu.Unlock()
				if !arrived.IsZero() && time.Since(arrived) > 4*testHeartbeatTimeout {
					releaseOnce.Do(func() { released = true; close(release) })
				}
			})
			env.ExecuteWorkflow(transferOnce, activities.TransferInput{Kind: tt.kind, SourceURL: origin.URL + "/f", WochitVideoID: "slow"})

			mu.Lock()
			heartbeatsReleased := released
			mu.Unlock()
			if !heartbeatsReleased {
				t.Fatal("no heartbeat arrived more than 4 heartbeat timeouts after the origin got the request")
			}
			if err := env.GetWorkflowError(); err != nil {
				t.Fatalf("the attempt failed: %v", err)
			}
			var res activities.TransferResult
			if err := env.GetWorkflowResult(&res); err != nil {
				t.Fatal(err)
			}
			f.assertStored(res.Object.Name, tt.body)
		})
	}
}

// Heartbeat details are what an attempt resumes from, possibly one that a
// worker of the previous release recorded: their JSON shape must not drift.
func TestTransferProgressWireShape(t *testing.T) {
	since := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		p    activities.TransferProgress
		want string
	}{
		{activities.TransferProgress{Kind: contract.KindThumbnail, Total: -1}, `{"Kind":"thumbnail","Bytes":0,"Total":-1}`},
		{activities.TransferProgress{Kind: contract.KindVideo, Bytes: 5, Total: 10, PartSize: 4, Validator: `"e1"`,
			Parts: []activities.PartRecord{{Index: 1, CRC32C: "AAAAAA=="}}, IncompleteSince: since},
			`{"Kind":"video","Bytes":5,"Total":10,"PartSize":4,"Validator":"\"e1\"","Parts":[{"Index":1,"CRC32C":"AAAAAA=="}],"IncompleteSince":"2026-12-02T12:00:00Z"}`},
		{activities.TransferProgress{Kind: contract.KindVideo, Total: -1, Failures: transfer.Failures{Last: "IncompleteBody:0123456789abcdef", Repeats: 2, Denied: 1}},
			`{"Kind":"video","Bytes":0,"Total":-1,"Failures":{"Last":"IncompleteBody:0123456789abcdef","Repeats":2,"Denied":1}}`},
		{activities.TransferProgress{Kind: contract.KindVideo, Bytes: 3, Total: 10, RangeCap: 4},
			`{"Kind":"video","Bytes":3,"Total":10,"RangeCap":4}`},
	} {
		got, err := json.Marshal(tt.p)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != tt.want {
			t.Errorf("TransferProgress JSON:\n got %s\nwant %s", got, tt.want)
		}
		var back activities.TransferProgress
		if err := json.Unmarshal([]byte(tt.want), &back); err != nil || !reflect.DeepEqual(back, tt.p) {
			t.Errorf("decoding %s = %+v, %v; want %+v", tt.want, back, err, tt.p)
		}
	}
}

// A retried attempt resumes from the progress the failed one left in its
// last heartbeat — recorded when the attempt returns, not only on the
// heartbeat's tick: the parts it finished, in its part size, of its version
// of the file. (Which parts the engine then keeps and which it fetches
// again is transfer's TestPartedTransferResumes.)
//
// Mutations: previousProgress ignoring the heartbeat details → "the retry
// fetched [bytes=0-262143 …]" (the first part again, not 512 bytes);
// heartbeat.stop not recording the final progress → "the last heartbeat …
// lists 0 parts".
func TestRetriedAttemptResumesFromItsLastHeartbeat(t *testing.T) {
	f := newFixture(t)
	f.acts.Transfer.PartSize = 256 << 10
	f.acts.Transfer.PartConcurrency = 1
	f.acts.Transfer.HeartbeatInterval = time.Hour // only the first report and the final one
	body := mediaorigin.Video("resume", 8*256<<10)
	// Part 3 fails as often as an attempt tries it: the attempt fails with
	// parts 0-2 done.
	f.origin.Put("/v.mp4", mediaorigin.File{Body: body, ContentType: "video/mp4", Statuses: []int{0, 0, 0, 503, 503, 503}})
	in := f.input(contract.KindVideo, "/v.mp4", "resume")

	if _, err := f.transfer(in); err == nil {
		t.Fatal("the first attempt succeeded although part 3 failed")
	}
	var last activities.TransferProgress
	if err := f.lastHeartbeat.Get(&last); err != nil {
		t.Fatal(err)
	}
	if len(last.Parts) != 3 || last.PartSize != 256<<10 || last.Validator == "" {
		t.Fatalf("the last heartbeat %+v lists %d parts; want parts 0-2, their part size and validator", last, len(last.Parts))
	}
	f.env.SetHeartbeatDetails(last)

	before := len(f.origin.Requests("/v.mp4"))
	res, err := f.transfer(in)
	if err != nil {
		t.Fatal(err)
	}
	f.assertStored(res.Object.Name, body)
	var fetched []string
	for _, r := range f.origin.Requests("/v.mp4")[before:] {
		fetched = append(fetched, r.Range)
	}
	want := []string{"bytes=0-511", "bytes=786432-1048575", "bytes=1048576-1310719", "bytes=1310720-1572863",
		"bytes=1572864-1835007", "bytes=1835008-2097151"}
	if strings.Join(fetched, " ") != strings.Join(want, " ") {
		t.Fatalf("the retry fetched\n  %v\nwant\n  %v", fetched, want)
	}
}

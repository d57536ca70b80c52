package workflows_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wochit-ingest/wochit-ingest/contract"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/wochit-ingest/wochit-ingest/activities"
	"github.com/wochit-ingest/wochit-ingest/workflows"
)

var a *activities.Activities

var receivedAt = time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC)

var testDestination = activities.Destination{Bucket: "b", Dir: "videos/vid-1/"}

func sampleInput() workflows.IngestInput {
	return workflows.IngestInput{
		Notification: contract.Notification{
			VideoContext: "user-42", WochitVideoID: "vid-1", Title: "My video",
			VideoURL: "https://media.example.com/v.mp4?sig=1", ThumbnailURL: "https://media.example.com/t.jpg?sig=1",
		},
		ReceivedAt: receivedAt,
	}
}

func stored(kind contract.AssetKind) contract.StoredObject {
	name := "videos/vid-1/" + string(kind)
	return contract.StoredObject{Bucket: "b", Name: name, URI: "gs://b/" + name, Size: 10, ContentType: "x", CRC32C: "AAAAAA=="}
}

type testEnv struct {
	*testsuite.TestWorkflowEnvironment
	mu        sync.Mutex
	infos     map[contract.AssetKind]activity.Info
	callbacks []activities.CallbackInput
}

func newEnv(t *testing.T) *testEnv {
	var suite testsuite.WorkflowTestSuite
	env := &testEnv{TestWorkflowEnvironment: suite.NewTestWorkflowEnvironment(), infos: map[contract.AssetKind]activity.Info{}}
	env.SetStartTime(receivedAt.Add(time.Minute))
	env.RegisterActivity(a)
	env.OnActivity(a.Destination, mock.Anything, mock.Anything).Return(testDestination, nil)
	env.SetOnActivityStartedListener(func(info *activity.Info, _ context.Context, args converter.EncodedValues) {
		var in activities.TransferInput
		if args.Get(&in) == nil && in.Kind != "" {
			env.mu.Lock()
			env.infos[in.Kind] = *info
			env.mu.Unlock()
		}
	})
	return env
}

// acceptCallbacks records callback inputs and answers delivered.
func (env *testEnv) acceptCallbacks() {
	env.OnActivity(a.DeliverCallback, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.CallbackInput) (activities.CallbackAttempt, error) {
			env.mu.Lock()
			env.callbacks = append(env.callbacks, in)
			env.mu.Unlock()
			return activities.CallbackAttempt{Attempt: in.Attempt, StatusCode: 204, Outcome: activities.AttemptDelivered}, nil
		})
}

func TestIngestVideoTransfersInParallelThenCallsBack(t *testing.T) {
	env := newEnv(t)
	// Each transfer waits until both have started: run one after the other,
	// the first would never see the second and fail.
	var started sync.WaitGroup
	started.Add(2)
	bothStarted := make(chan struct{})
	go func() { started.Wait(); close(bothStarted) }()
	env.OnActivity(a.TransferToGCS, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.TransferInput) (activities.TransferResult, error) {
			if in.ReuseOnly {
				t.Errorf("%s transfer before the deadline is reuse-only: it could not download", in.Kind)
			}
			started.Done()
			select {
			case <-bothStarted:
			case <-time.After(10 * time.Second):
				return activities.TransferResult{}, errors.New("the other transfer never started: transfers are not parallel")
			}
			return activities.TransferResult{Object: stored(in.Kind)}, nil
		})
	env.acceptCallbacks()

	env.ExecuteWorkflow(workflows.IngestVideo, sampleInput())
	if !env.IsWorkflowCompleted() {
		t.Fatal("workflow did not complete")
	}
	if err := env.GetWorkflowError(); err != nil {
		t.Fatalf("workflow failed: %v", err)
	}
	var res workflows.IngestResult
	if err := env.GetWorkflowResult(&res); err != nil {
		t.Fatal(err)
	}
	if res.Video != stored(contract.KindVideo) || res.Thumbnail != stored(contract.KindThumbnail) || !res.Callback.Delivered {
		t.Fatalf("result = %+v", res)
	}

	if len(env.callbacks) != 1 {
		t.Fatalf("got %d callback attempts, want 1", len(env.callbacks))
	}
	cb := env.callbacks[0]
	ev := cb.Event
	if ev.Type != contract.VideoStored || ev.Data.WochitVideoID != "vid-1" || ev.Data.VideoContext != "user-42" ||
		ev.Data.Title != "My video" || ev.Data.WorkflowID != "default-test-workflow-id" ||
		*ev.Data.Video != stored(contract.KindVideo) || *ev.Data.Thumbnail != stored(contract.KindThumbnail) {
		t.Fatalf("callback event = %+v", ev)
	}
	if cb.WebhookID != workflows.WebhookID("default-test-workflow-id", contract.VideoStored) {
		t.Fatalf("webhook-id = %q, not derived from the workflow id", cb.WebhookID)
	}
}

func TestIngestVideoActivityOptions(t *testing.T) {
	env := newEnv(t)
	env.OnActivity(a.TransferToGCS, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.TransferInput) (activities.TransferResult, error) {
			return activities.TransferResult{Object: stored(in.Kind)}, nil
		})
	env.acceptCallbacks()
	env.ExecuteWorkflow(workflows.IngestVideo, sampleInput())
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}

	// Started one minute after receipt: the deadline is 24h - margin after
	// receipt, so each transfer may take 24h - margin - 1m in all.
	wantScheduleToClose := workflows.LinkLifetime - workflows.DeadlineSafetyMargin - time.Minute
	video, thumb := env.infos[contract.KindVideo], env.infos[contract.KindThumbnail]
	if video.TaskQueue != workflows.VideoTaskQueue || thumb.TaskQueue != "default-test-taskqueue" {
		t.Errorf("task queues: video %q, thumbnail %q; want the video on %q and the thumbnail with the workflow", video.TaskQueue, thumb.TaskQueue, workflows.VideoTaskQueue)
	}
	for kind, info := range env.infos {
		if info.ScheduleToCloseTimeout != wantScheduleToClose {
			t.Errorf("%s ScheduleToClose = %s, want %s", kind, info.ScheduleToCloseTimeout, wantScheduleToClose)
		}
		if info.StartToCloseTimeout <= 0 || info.StartToCloseTimeout > wantScheduleToClose {
			t.Errorf("%s StartToClose = %s, want a per-attempt bound within the deadline", kind, info.StartToCloseTimeout)
		}
	}
	// README (Heartbeats) documents 60 s: a dead worker noticed within it, a
	// Temporal outage shorter than it ridden out.
	for kind, info := range env.infos {
		if info.HeartbeatTimeout != 60*time.Second || workflows.TransferHeartbeatTimeout != 60*time.Second {
			t.Errorf("%s HeartbeatTimeout = %s, want the documented 60s", kind, info.HeartbeatTimeout)
		}
	}
}

func TestDeadlinesForPlainURLs(t *testing.T) {
	in := sampleInput()
	want := receivedAt.Add(24*time.Hour - workflows.DeadlineSafetyMargin)
	if got := workflows.DeadlinesFor(in); !got.Video.Equal(want) || !got.Thumbnail.Equal(want) {
		t.Fatalf("DeadlinesFor = %+v, want both %s", got, want)
	}
}

func TestSignedURLExpiry(t *testing.T) {
	tests := []struct {
		name string
		url  string
		want time.Time // zero: no expiry readable
	}{
		{"GCS V4", "https://storage.googleapis.com/b/o.mp4?X-Goog-Algorithm=GOOG4-RSA-SHA256&X-Goog-Date=20261128T090000Z&X-Goog-Expires=3600&X-Goog-Signature=ab",
			time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)},
		{"S3 SigV4", "https://b.s3.amazonaws.com/o.mp4?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Date=20261128T093000Z&X-Amz-Expires=600&X-Amz-Signature=cd",
			time.Date(2026, 11, 28, 9, 40, 0, 0, time.UTC)},
		{"S3 lower-case keys", "https://b.s3.amazonaws.com/o.mp4?x-amz-date=20261128T093000Z&x-amz-expires=60",
			time.Date(2026, 11, 28, 9, 31, 0, 0, time.UTC)},
		{"CloudFront", "https://d111.cloudfront.net/o.mp4?Expires=1796029200&Signature=x&Key-Pair-Id=K",
			time.Unix(1796029200, 0).UTC()},
		{"GCS V2", "https://storage.googleapis.com/b/o.mp4?GoogleAccessId=x&Expires=1796029200&Signature=y",
			time.Unix(1796029200, 0).UTC()},
		{"Azure SAS", "https://a.blob.core.windows.net/c/o.mp4?sv=2021-08-06&se=2026-11-28T12:00:00Z&sig=z",
			time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)},
		{"plain URL", "https://media.example.com/v.mp4", time.Time{}},
		{"garbage expiry", "https://x/v.mp4?X-Goog-Date=yesterday&X-Goog-Expires=10", time.Time{}},
		// ~9.3e9 seconds overflow time.Duration into the past; such a lifetime
		// is ignored here, and refused by the ingress.
		{"overflowing lifetime", "https://x/v.mp4?X-Amz-Date=20261128T093000Z&X-Amz-Expires=9300000000", time.Time{}},
		{"lifetime over 7 days", "https://x/v.mp4?X-Goog-Date=20261128T093000Z&X-Goog-Expires=604801", time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := workflows.SignedURLExpiry(tt.url)
			if ok != !tt.want.IsZero() || !got.Equal(tt.want) {
				t.Fatalf("SignedURLExpiry = %s, %v; want %s", got, ok, tt.want)
			}
		})
	}
}

func TestCheckSignedURLExpiry(t *testing.T) {
	now := time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		url string
		ok  bool
	}{
		{"https://x/v.mp4", true},
		{"https://x/v.mp4?X-Amz-Date=20261128T090000Z&X-Amz-Expires=604800", true},
		{"https://x/v.mp4?X-Amz-Date=20261128T090000Z&X-Amz-Expires=9300000000", false},
		{"https://x/v.mp4?X-Goog-Date=20261128T090000Z&X-Goog-Expires=-5", false},
		{"https://x/v.mp4?X-Goog-Date=20261128T080000Z&X-Goog-Expires=3600", false},                  // expired now
		{"https://x/v.mp4?X-Goog-Date=20261128T090000Z&X-Goog-Expires=300", false},                   // inside the margin
		{"https://x/v.mp4?X-Goog-Date=20261128T090000Z&X-Goog-Expires=" + fmt.Sprint(11*60), true},   // just outside it
		{fmt.Sprintf("https://x/v.mp4?Expires=%d&Signature=s", now.Add(-time.Second).Unix()), false}, // CloudFront, expired
		{"https://x/v.mp4?se=2026-11-28T09:05:00Z&sig=s", false},                                     // Azure, inside the margin
	} {
		if err := workflows.CheckSignedURLExpiry(tt.url, now); (err == nil) != tt.ok {
			t.Errorf("CheckSignedURLExpiry(%s) = %v, want ok=%v", tt.url, err, tt.ok)
		}
	}
}

func TestDeadlineIsTheEarlierOfSignedExpiryAnd24Hours(t *testing.T) {
	in := sampleInput()
	// The video's link is signed for one hour after receipt; the thumbnail's
	// for two days, so its 24 h limit applies.
	in.Notification.VideoURL = "https://b.s3.amazonaws.com/v.mp4?X-Amz-Date=20261128T090000Z&X-Amz-Expires=3600"
	in.Notification.ThumbnailURL = "https://b.s3.amazonaws.com/t.jpg?X-Amz-Date=20261128T090000Z&X-Amz-Expires=172800"
	got := workflows.DeadlinesFor(in)
	if want := receivedAt.Add(time.Hour - workflows.DeadlineSafetyMargin); !got.Video.Equal(want) {
		t.Errorf("video deadline = %s, want %s", got.Video, want)
	}
	if want := receivedAt.Add(24*time.Hour - workflows.DeadlineSafetyMargin); !got.Thumbnail.Equal(want) {
		t.Errorf("thumbnail deadline = %s, want %s", got.Thumbnail, want)
	}

	// The workflow bounds each transfer by its own deadline and tells the
	// activity when the link expires.
	env := newEnv(t)
	var linkExpiry time.Time
	env.OnActivity(a.TransferToGCS, mock.Anything, mock.Anything).Return(
		func(_ context.Context, tin activities.TransferInput) (activities.TransferResult, error) {
			if tin.Kind == contract.KindVideo {
				linkExpiry = tin.LinkExpiresAt
			}
			return activities.TransferResult{Object: stored(tin.Kind)}, nil
		})
	env.acceptCallbacks()
	env.ExecuteWorkflow(workflows.IngestVideo, in)
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if want := time.Hour - workflows.DeadlineSafetyMargin - time.Minute; env.infos[contract.KindVideo].ScheduleToCloseTimeout != want {
		t.Errorf("video ScheduleToClose = %s, want %s", env.infos[contract.KindVideo].ScheduleToCloseTimeout, want)
	}
	if want := receivedAt.Add(time.Hour); !linkExpiry.Equal(want) {
		t.Errorf("LinkExpiresAt = %s, want %s", linkExpiry, want)
	}
	var res workflows.IngestResult
	if err := env.GetWorkflowResult(&res); err != nil || !res.Deadlines.Video.Equal(got.Video) {
		t.Errorf("result deadlines = %+v (%v), want %+v", res.Deadlines, err, got)
	}
}

// After the deadline the origin is never contacted: the transfers may only
// reuse files an earlier run stored, and without them the run fails
// LinkExpired.
func TestIngestVideoTooLateWithoutStoredFilesFailsLinkExpired(t *testing.T) {
	env := newEnv(t)
	env.SetStartTime(receivedAt.Add(workflows.LinkLifetime))
	env.OnActivity(a.TransferToGCS, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.TransferInput) (activities.TransferResult, error) {
			if !in.ReuseOnly {
				t.Errorf("%s transfer after the deadline may contact the origin (ReuseOnly is false)", in.Kind)
			}
			return activities.TransferResult{}, temporal.NewNonRetryableApplicationError("no stored copy", string(contract.LinkExpired), nil)
		})
	env.acceptCallbacks()
	env.ExecuteWorkflow(workflows.IngestVideo, sampleInput())
	assertFailedWith(t, env, contract.LinkExpired)
}

// The redelivery trap: a new run for a video whose callback failed keeps the
// original ReceivedAt, so it starts long after the links' deadline. It must
// still deliver, reusing the stored files.
func TestIngestVideoAfterDeadlineReusesStoredFiles(t *testing.T) {
	env := newEnv(t)
	env.SetStartTime(receivedAt.Add(3 * 24 * time.Hour))
	var reuseOnly []bool
	env.OnActivity(a.TransferToGCS, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.TransferInput) (activities.TransferResult, error) {
			env.mu.Lock()
			reuseOnly = append(reuseOnly, in.ReuseOnly)
			env.mu.Unlock()
			if !in.ReuseOnly {
				return activities.TransferResult{}, temporal.NewNonRetryableApplicationError("origin contacted after the deadline", string(contract.LinkExpired), nil)
			}
			return activities.TransferResult{Object: stored(in.Kind), Reused: true}, nil
		})
	env.acceptCallbacks()
	env.ExecuteWorkflow(workflows.IngestVideo, sampleInput())

	if err := env.GetWorkflowError(); err != nil {
		t.Fatalf("workflow failed: %v", err)
	}
	if len(reuseOnly) != 2 || !reuseOnly[0] || !reuseOnly[1] {
		t.Fatalf("transfers ran with ReuseOnly = %v, want two reuse-only checks", reuseOnly)
	}
	if len(env.callbacks) != 1 || env.callbacks[0].Event.Type != contract.VideoStored ||
		env.callbacks[0].WebhookID != workflows.WebhookID("default-test-workflow-id", contract.VideoStored) {
		t.Fatalf("callbacks = %+v, want one video.stored with the usual webhook-id", env.callbacks)
	}
	// A reuse-only check is light work: it stays on the workflow's queue
	// instead of waiting for a video slot.
	if q := env.infos[contract.KindVideo].TaskQueue; q != "default-test-taskqueue" {
		t.Errorf("reuse-only video check ran on %q, want the workflow's task queue", q)
	}
}

func TestIngestVideoPermanentTransferFailure(t *testing.T) {
	env := newEnv(t)
	env.OnActivity(a.TransferToGCS, mock.Anything, mock.Anything).Return(
		func(ctx context.Context, in activities.TransferInput) (activities.TransferResult, error) {
			if in.Kind == contract.KindVideo {
				return activities.TransferResult{}, temporal.NewNonRetryableApplicationError("origin answered 404", string(contract.OriginNotFound), nil)
			}
			// The thumbnail is slow; the video's failure must not wait for it.
			select {
			case <-ctx.Done():
				return activities.TransferResult{}, ctx.Err()
			case <-time.After(10 * time.Second):
				return activities.TransferResult{Object: stored(in.Kind)}, nil
			}
		})
	env.acceptCallbacks()
	env.ExecuteWorkflow(workflows.IngestVideo, sampleInput())
	assertFailedWith(t, env, contract.OriginNotFound)
}

// The video.failed message says what failed, never which worker ran the
// attempt: the SDK's ActivityError text names it (identity: pid@hostname),
// and an error without a reason type used to be sent with that text.
func TestFailureMessageDoesNotNameTheWorker(t *testing.T) {
	const identity = "4242@worker-7.internal"
	for _, tt := range []struct {
		err    error
		reason contract.Reason
	}{
		{errors.New("disk on fire"), contract.TransferFailed},
		{temporal.NewNonRetryableApplicationError("disk on fire", "", nil), contract.TransferFailed},
		{temporal.NewNonRetryableApplicationError("disk on fire", string(contract.OriginNotFound), nil), contract.OriginNotFound},
	} {
		env := newEnv(t)
		env.SetIdentity(identity)
		env.OnActivity(a.TransferToGCS, mock.Anything, mock.Anything).Return(
			func(_ context.Context, in activities.TransferInput) (activities.TransferResult, error) {
				if in.Kind == contract.KindVideo {
					return activities.TransferResult{}, tt.err
				}
				return activities.TransferResult{Object: stored(in.Kind)}, nil
			})
		env.acceptCallbacks()
		env.ExecuteWorkflow(workflows.IngestVideo, sampleInput())
		if len(env.callbacks) != 1 {
			t.Fatalf("%v: got %d callbacks, want 1", tt.err, len(env.callbacks))
		}
		data := env.callbacks[0].Event.Data
		if data.Reason != tt.reason || !strings.Contains(data.Message, "disk on fire") {
			t.Errorf("%v: video.failed %s %q, want %s with the failure's text", tt.err, data.Reason, data.Message, tt.reason)
		}
		if strings.Contains(data.Message, "worker-7") || strings.Contains(data.Message, "4242") || strings.Contains(data.Message, "identity") {
			t.Errorf("%v: video.failed message %q names the worker", tt.err, data.Message)
		}
	}
}

// assertFailedWith checks that the workflow failed with reason and that the
// backend was told so with a video.failed callback.
func assertFailedWith(t *testing.T, env *testEnv, reason contract.Reason) {
	t.Helper()
	if !env.IsWorkflowCompleted() {
		t.Fatal("workflow did not complete")
	}
	err := env.GetWorkflowError()
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) || contract.Reason(appErr.Type()) != reason {
		t.Fatalf("workflow error = %v, want an ApplicationError of type %s", err, reason)
	}
	if len(env.callbacks) != 1 {
		t.Fatalf("got %d callbacks, want 1", len(env.callbacks))
	}
	ev := env.callbacks[0].Event
	if ev.Type != contract.VideoFailed || ev.Data.Reason != reason || ev.Data.Message == "" || ev.Data.Video != nil {
		t.Fatalf("callback event = %+v, want video.failed with reason %s", ev, reason)
	}
	if env.callbacks[0].WebhookID != workflows.WebhookID("default-test-workflow-id", contract.VideoFailed) {
		t.Fatalf("webhook-id = %q", env.callbacks[0].WebhookID)
	}
}

// Cancelling a run while it copies stops the transfers, and the backend is
// still told, exactly once, with video.failed: the callback runs on a
// context the cancellation does not reach.
func TestCancelledRunStillSendsVideoFailed(t *testing.T) {
	env := newEnv(t)
	var started sync.WaitGroup
	started.Add(2)
	env.OnActivity(a.TransferToGCS, mock.Anything, mock.Anything).Return(
		func(ctx context.Context, in activities.TransferInput) (activities.TransferResult, error) {
			started.Done()
			<-ctx.Done() // runs until cancelled
			return activities.TransferResult{}, ctx.Err()
		})
	env.acceptCallbacks()
	go func() { started.Wait(); env.CancelWorkflow() }() // an operator cancels mid-copy
	env.ExecuteWorkflow(workflows.IngestVideo, sampleInput())

	if !env.IsWorkflowCompleted() {
		t.Fatal("workflow did not complete")
	}
	if err := env.GetWorkflowError(); !temporal.IsCanceledError(err) {
		t.Fatalf("workflow error = %v, want cancelled", err)
	}
	if len(env.callbacks) != 1 {
		t.Fatalf("got %d callbacks, want exactly 1", len(env.callbacks))
	}
	ev := env.callbacks[0].Event
	if ev.Type != contract.VideoFailed || ev.Data.Reason != contract.Cancelled || ev.Data.Message == "" {
		t.Fatalf("callback = %+v, want video.failed with reason %s", ev, contract.Cancelled)
	}
}

// A cancellation while the callback is being retried does not stop it:
// the files are stored, and the backend must learn where.
func TestCancelDuringCallbackRetriesKeepsDelivering(t *testing.T) {
	env := newEnv(t)
	env.OnActivity(a.TransferToGCS, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.TransferInput) (activities.TransferResult, error) {
			return activities.TransferResult{Object: stored(in.Kind)}, nil
		})
	attempts := 0
	env.OnActivity(a.DeliverCallback, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.CallbackInput) (activities.CallbackAttempt, error) {
			attempts++
			if attempts < 3 {
				return activities.CallbackAttempt{Attempt: in.Attempt, StatusCode: 503, Outcome: activities.AttemptRetry}, nil
			}
			return activities.CallbackAttempt{Attempt: in.Attempt, StatusCode: 204, Outcome: activities.AttemptDelivered}, nil
		})
	// The second wait of the default schedule is 5 minutes: cancel inside it.
	env.RegisterDelayedCallback(env.CancelWorkflow, 2*time.Minute)
	env.ExecuteWorkflow(workflows.IngestVideo, sampleInput())
	if err := env.GetWorkflowError(); err != nil {
		t.Fatalf("workflow error = %v, want the delivery to complete", err)
	}
	if attempts != 3 {
		t.Fatalf("%d callback attempts, want 3 (the cancellation cut the schedule)", attempts)
	}
}

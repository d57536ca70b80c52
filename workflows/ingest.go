package workflows

import (
	"errors"
	"fmt"
	"time"

	"github.com/wochit-ingest/wochit-ingest/contract"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/wochit-ingest/wochit-ingest/activities"
)

// TransferHeartbeatTimeout is how long a transfer attempt may go without a
// heartbeat reaching Temporal before it is given up and retried, for videos
// and thumbnails alike. It is a trade-off: a worker that dies is noticed
// this long after its last heartbeat, and a Temporal outage shorter than it
// (less the heartbeat throttle and the worker's reconnect) does not cancel
// the attempts in flight (worker.HeartbeatRPCTimeout; README, Heartbeats).
const TransferHeartbeatTimeout = 60 * time.Second

// Timeouts and retry policies, named for what they protect.
const (
	// A video attempt may stream for hours, but a worker that dies is noticed
	// within TransferHeartbeatTimeout and the transfer is retried elsewhere.
	videoAttemptTimeout = 6 * time.Hour

	thumbnailAttemptTimeout = 10 * time.Minute

	// A reuse-only check after the deadline lists the video's objects and
	// reads their metadata; it never streams media, so it is short.
	reuseAttemptTimeout = time.Minute
	reuseTimeout        = 10 * time.Minute

	// Looking up where files go reads the worker's configuration.
	destinationTimeout = 5 * time.Second

	// One callback attempt: the HTTP timeout plus room to report back.
	callbackAttemptTimeout = activities.CallbackTimeout + 15*time.Second
)

// transferRetryPolicy retries transient origin and storage failures with
// backoff until the deadline (ScheduleToClose); typed permanent failures end
// the transfer at once.
var transferRetryPolicy = &temporal.RetryPolicy{
	InitialInterval:        2 * time.Second,
	BackoffCoefficient:     2,
	MaximumInterval:        5 * time.Minute,
	NonRetryableErrorTypes: activities.NonRetryableTransferTypes,
}

// DeadlinesFor computes each file's transfer deadline from the notification.
func DeadlinesFor(in IngestInput) Deadlines {
	return Deadlines{
		Video:     TransferDeadline(in.ReceivedAt, in.Notification.VideoURL),
		Thumbnail: TransferDeadline(in.ReceivedAt, in.Notification.ThumbnailURL),
	}
}

// IngestVideo copies a video and its thumbnail into GCS, in parallel, then
// tells the customer's backend where they are. If a file cannot be copied —
// or the run is cancelled first — it tells the backend that instead, and the
// run fails (or ends cancelled) so operators see it. Every run that gets
// past its first workflow task sends exactly one event.
func IngestVideo(ctx workflow.Context, in IngestInput) (IngestResult, error) {
	n := in.Notification
	workflowID := workflow.GetInfo(ctx).WorkflowExecution.ID
	deadlines := DeadlinesFor(in)

	status := Status{Deadlines: deadlines}
	if err := workflow.SetQueryHandler(ctx, StatusQuery, func() (Status, error) { return status, nil }); err != nil {
		return IngestResult{}, err
	}
	// The callback and the bookkeeping after the transfers run on a context
	// a cancellation does not reach: a cancelled run must still tell the
	// backend, and a disconnected context lets its activities and timers run.
	afterCtx, _ := workflow.NewDisconnectedContext(ctx)
	ops := operatorView{ctx: afterCtx, status: &status}

	video, thumbnail, err := prepareAndTransfer(ctx, in, deadlines, ops)
	if err != nil {
		reason, message := failureReason(err)
		status.Failure, status.Reason = string(reason)+": "+message, reason
		if reason == contract.Cancelled {
			countIngest(afterCtx, ingestCancelled, reason)
		} else {
			countIngest(afterCtx, ingestFailed, reason)
		}
		ops.stage(StageCallingBack, "Transfer failed ("+string(reason)+"). Telling the backend.")
		failed := contract.FailedEvent(n, workflowID, workflow.Now(ctx), reason, message)
		_, _ = deliver(afterCtx, failed, in.CallbackSchedule, &status)
		ops.stage(StageFailed, "Failed: "+status.Failure)
		if reason == contract.Cancelled {
			return IngestResult{}, temporal.NewCanceledError(message)
		}
		// Workflow code builds Temporal's failure directly: the service's
		// typed failure (internal/failure) is for activities, which convert
		// it in one place (activities.applicationError).
		return IngestResult{}, temporal.NewNonRetryableApplicationError(message, string(reason), nil)
	}

	status.Video, status.Thumbnail = &video, &thumbnail
	countIngest(afterCtx, ingestStored, "")
	ops.stage(StageCallingBack, fmt.Sprintf("Stored %s and %s. Calling back.", video.URI, thumbnail.URI))
	stored := contract.StoredEvent(n, workflowID, workflow.Now(ctx), video, thumbnail)
	// Once the files are stored, the backend is told even if the run is
	// cancelled meanwhile: cancelling cannot un-store them. (Terminating a
	// run stops everything.)
	report, err := deliver(afterCtx, stored, in.CallbackSchedule, &status)
	result := IngestResult{Video: video, Thumbnail: thumbnail, Deadlines: deadlines, Callback: report}
	if err != nil {
		status.Failure = err.Error()
		var appErr *temporal.ApplicationError
		if errors.As(err, &appErr) {
			status.Reason = contract.Reason(appErr.Type())
		}
		ops.stage(StageFailed, "Files stored; callback failed: "+err.Error())
		return result, err
	}
	ops.stage(StageCompleted, fmt.Sprintf("Stored %s and %s; backend notified.", video.URI, thumbnail.URI))
	return result, nil
}

// prepareAndTransfer makes the run findable, looks up the destination and
// copies both files. Any error it returns, a cancellation included, ends in
// a video.failed callback.
func prepareAndTransfer(ctx workflow.Context, in IngestInput, deadlines Deadlines, ops operatorView) (video, thumbnail contract.StoredObject, err error) {
	n := in.Notification
	// Make the run findable by video and context in the Web UI (one upsert:
	// each is a write to the visibility store). Every value fits Temporal's
	// limits (see SearchKeyword): a value beyond them would get the run
	// terminated by the server.
	ops.status.Stage = StageTransferring
	if err := workflow.UpsertTypedSearchAttributes(ctx,
		wochitVideoIDKey.ValueSet(n.WochitVideoID), videoContextKey.ValueSet(SearchKeyword(n.VideoContext)),
		ingestStageKey.ValueSet(string(StageTransferring))); err != nil {
		return video, thumbnail, err
	}

	var a *activities.Activities
	dest := activities.Destination{}
	lctx := workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{StartToCloseTimeout: destinationTimeout})
	if err := workflow.ExecuteLocalActivity(lctx, a.Destination, activities.DestinationInput{WochitVideoID: n.WochitVideoID}).Get(ctx, &dest); err != nil {
		return video, thumbnail, err
	}
	ops.status.Destination = dest
	ops.stage(StageTransferring, fmt.Sprintf("Copying the video (deadline %s) and the thumbnail (deadline %s) to %s. "+
		"Bytes and parts: see the pending activities' heartbeat details.",
		deadlines.Video.UTC().Format(time.RFC3339), deadlines.Thumbnail.UTC().Format(time.RFC3339), dest.URI()))

	return transferBoth(ctx, in, deadlines, dest)
}

// operatorView keeps what operators see in step: the status query, the
// IngestStage search attribute and the Web UI's current details.
type operatorView struct {
	ctx    workflow.Context
	status *Status
}

// stage sets the stage and the Web UI's details. A failed run's reason
// rides along with the stage change that follows the
// failure (FailureReason): no upsert is added, so the commands of every
// existing history stay the same on replay (an upsert's attributes are not
// compared, only its place among the commands).
func (v operatorView) stage(s Stage, details string) {
	if v.status.Stage != s {
		v.status.Stage = s
		updates := []temporal.SearchAttributeUpdate{ingestStageKey.ValueSet(string(s))}
		if v.status.Reason != "" {
			updates = append(updates, failureReasonKey.ValueSet(string(v.status.Reason)))
		}
		if err := workflow.UpsertTypedSearchAttributes(v.ctx, updates...); err != nil {
			workflow.GetLogger(v.ctx).Warn("could not set the IngestStage search attribute", "error", err)
		}
	}
	workflow.SetCurrentDetails(v.ctx, FitJSON(details, MaxDetailsBytes))
}

// transferBoth runs both transfers in parallel. The first permanent failure
// cancels the other transfer: the ingest has failed either way.
//
// After a file's deadline its link is dead, but a run may still start then:
// a redelivery of the callback days later starts a new run with the original
// notification. Such a transfer only looks for the file an earlier run stored
// and verified, and fails LinkExpired without contacting the origin when it
// is missing.
func transferBoth(ctx workflow.Context, in IngestInput, deadlines Deadlines, dest activities.Destination) (video, thumbnail contract.StoredObject, err error) {
	var a *activities.Activities
	n := in.Notification
	now := workflow.Now(ctx)

	transferCtx, cancelTransfers := workflow.WithCancel(ctx)
	defer cancelTransfers()

	start := func(kind contract.AssetKind, source string, deadline time.Time) workflow.Future {
		remaining := deadline.Sub(now)
		reuseOnly := remaining <= 0
		var opts workflow.ActivityOptions
		switch {
		case reuseOnly:
			// Light work (a listing and a metadata read), on the workflow's
			// own task queue.
			opts = workflow.ActivityOptions{
				ScheduleToCloseTimeout: reuseTimeout,
				StartToCloseTimeout:    reuseAttemptTimeout,
				RetryPolicy:            transferRetryPolicy,
				Summary:                ReuseSummary(kind),
			}
		case kind == contract.KindVideo:
			opts = workflow.ActivityOptions{
				TaskQueue:              VideoTaskQueue,
				ScheduleToCloseTimeout: remaining,
				StartToCloseTimeout:    min(videoAttemptTimeout, remaining),
				HeartbeatTimeout:       TransferHeartbeatTimeout,
				RetryPolicy:            transferRetryPolicy,
				Summary:                TransferSummary(kind, dest),
			}
		default:
			opts = workflow.ActivityOptions{
				ScheduleToCloseTimeout: remaining,
				StartToCloseTimeout:    min(thumbnailAttemptTimeout, remaining),
				HeartbeatTimeout:       TransferHeartbeatTimeout,
				RetryPolicy:            transferRetryPolicy,
				Summary:                TransferSummary(kind, dest),
			}
		}
		return workflow.ExecuteActivity(workflow.WithActivityOptions(transferCtx, opts), a.TransferToGCS, activities.TransferInput{
			Kind: kind, SourceURL: source, WochitVideoID: n.WochitVideoID, VideoContext: n.VideoContext,
			LinkExpiresAt: LinkExpiry(in.ReceivedAt, source), ReuseOnly: reuseOnly,
		})
	}

	// A slice, not a map: workflow code must schedule in the same order on replay.
	transfers := []struct {
		kind     contract.AssetKind
		source   string
		deadline time.Time
		result   *contract.StoredObject
	}{
		{contract.KindVideo, n.VideoURL, deadlines.Video, &video},
		{contract.KindThumbnail, n.ThumbnailURL, deadlines.Thumbnail, &thumbnail},
	}
	selector := workflow.NewSelector(ctx)
	for _, t := range transfers {
		selector.AddFuture(start(t.kind, t.source, t.deadline), func(f workflow.Future) {
			var res activities.TransferResult
			if e := f.Get(ctx, &res); e != nil {
				if err == nil {
					err = e
					cancelTransfers()
				}
				return
			}
			*t.result = res.Object
		})
	}
	for range transfers {
		selector.Select(ctx)
	}
	return video, thumbnail, err
}

// TransferSummary is a transfer activity's summary in the Web UI: the kind
// and where it goes, fitted to MaxSummaryBytes (a bucket name, GCS_PREFIX
// and the video id can make it long).
func TransferSummary(kind contract.AssetKind, dest activities.Destination) string {
	return FitJSON(fmt.Sprintf("%s → %s%s", kind, dest.URI(), kind), MaxSummaryBytes)
}

// ReuseSummary is the summary of a transfer that only looks for the copy an
// earlier run stored.
func ReuseSummary(kind contract.AssetKind) string {
	return fmt.Sprintf("%s: reuse the stored copy (link expired)", kind)
}

// failureReason extracts the reason code (the ApplicationError type) and a
// message for the video.failed callback.
func failureReason(err error) (reason contract.Reason, message string) {
	if temporal.IsCanceledError(err) {
		return contract.Cancelled, "the run was cancelled before both files were stored"
	}
	var timeoutErr *temporal.TimeoutError
	if errors.As(err, &timeoutErr) {
		msg := "the transfer did not finish before the deadline"
		var last *temporal.ApplicationError
		if errors.As(timeoutErr, &last) {
			msg += "; last error: " + last.Error()
		}
		return contract.DeadlineExceeded, msg
	}
	var appErr *temporal.ApplicationError
	var actErr *temporal.ActivityError
	if errors.As(err, &actErr) && actErr.RetryState() == enumspb.RETRY_STATE_TIMEOUT {
		// The server gave up because the next retry would start after the
		// deadline (ScheduleToClose): the deadline ended the transfer, the
		// last attempt's failure only says how it was going.
		msg := "the transfer did not finish before the deadline"
		if errors.As(err, &appErr) {
			msg += "; last error: " + appErr.Error()
		}
		return contract.DeadlineExceeded, msg
	}
	if errors.As(err, &appErr) && contract.Reason(appErr.Type()).Known() {
		return contract.Reason(appErr.Type()), appErr.Error()
	}
	// An untyped failure (a panic in an activity, an SDK error) is no reason
	// a backend can act on.
	return contract.TransferFailed, withoutActivityError(err)
}

// withoutActivityError is err's message without the SDK's ActivityError
// wrapper, whose text names the worker that ran the attempt (its identity,
// pid@hostname): the customer's video.failed gets what failed, not where.
func withoutActivityError(err error) string {
	var actErr *temporal.ActivityError
	if !errors.As(err, &actErr) {
		return err.Error()
	}
	if cause := errors.Unwrap(actErr); cause != nil {
		return withoutActivityError(cause)
	}
	return "the " + actErr.ActivityType().GetName() + " activity failed"
}

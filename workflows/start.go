// Client code: starting an ingest, and finding the run a notification
// already started. The ingress and `wochit-ingest redeliver` call it; no
// workflow function does (it talks to the Temporal service, which workflow
// code must never do).

package workflows

import (
	"context"
	"errors"
	"fmt"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	sdkpb "go.temporal.io/api/sdk/v1"
	"go.temporal.io/api/serviceerror"
	taskqueuepb "go.temporal.io/api/taskqueue/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/google/uuid"

	"github.com/wochit-ingest/wochit-ingest/internal/tracing"
)

// StartOptions say where a workflow is started and by whom.
type StartOptions struct {
	Namespace string
	// DataConverter must match the workers' (default converter when nil).
	DataConverter converter.DataConverter
	// Identity is recorded in the run's history as the starter.
	Identity string
	// Tracing, when enabled, makes the start a span that the run continues.
	Tracing *tracing.Tracing
}

// ConflictError is StartIngest's answer when the video already has a run
// whose notification differs from this one (other URLs, context or title):
// the run goes on with its own notification, and this one is not processed.
type ConflictError struct {
	WorkflowID, RunID string
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("%s (run %s) was started by a different notification for the same wochitVideoId", e.WorkflowID, e.RunID)
}

// StartIngest starts the IngestVideo workflow for a notification, or finds
// the one already started for the same video. The ingress and the redeliver
// command both start runs through it, so a redelivery obeys the same rules as
// a notification.
//
// It calls StartWorkflowExecution directly rather than client.ExecuteWorkflow
// because only the raw response says whether this call started the run or
// found it already running (the ingress answers 202 or 200). The id policies make the start
// exactly-once per video:
//   - conflict policy USE_EXISTING: while a run is open, a duplicate attaches
//     to it instead of failing or starting another;
//   - reuse policy ALLOW_DUPLICATE_FAILED_ONLY: after a run completed, a
//     duplicate is answered with that run and nothing re-runs; after a run
//     failed, a redelivery starts a fresh run.
//
// A run found rather than started is only a duplicate if it was started with
// the same notification; otherwise the answer is a *ConflictError, so a
// different notification under the same id is never silently dropped.
func StartIngest(ctx context.Context, c client.Client, opts StartOptions, in IngestInput) (runID string, started bool, err error) {
	req, err := StartRequest(opts, in)
	if err != nil {
		return "", false, err
	}
	header, endSpan := opts.Tracing.StartWorkflowSpan(ctx, IngestVideoName, req.WorkflowId)
	req.Header = header
	resp, err := c.WorkflowService().StartWorkflowExecution(ctx, req)
	endSpan(err)
	var already *serviceerror.WorkflowExecutionAlreadyStarted
	switch {
	case errors.As(err, &already):
		// A closed run that may not be re-run (it completed).
		runID = already.RunId
	case err != nil:
		return "", false, err
	case resp.GetStarted():
		return resp.GetRunId(), true, nil
	default:
		runID = resp.GetRunId()
	}
	existing, err := StartedWith(ctx, c, dataConverter(opts.DataConverter), opts.Namespace, req.WorkflowId, runID)
	if err != nil {
		return "", false, fmt.Errorf("reading the notification of %s to compare: %w", req.WorkflowId, err)
	}
	if existing.Notification != in.Notification {
		return runID, false, &ConflictError{WorkflowID: req.WorkflowId, RunID: runID}
	}
	return runID, false, nil
}

// StartRequest is the StartWorkflowExecution request StartIngest sends for
// an ingest (with a fresh request id). Every value derived from the
// notification fits Temporal's limits; the ingress's fuzz test checks that
// on every notification its decoder accepts.
func StartRequest(opts StartOptions, in IngestInput) (*workflowservice.StartWorkflowExecutionRequest, error) {
	dc := dataConverter(opts.DataConverter)
	input, err := dc.ToPayloads(in)
	if err != nil {
		return nil, fmt.Errorf("encoding workflow input: %w", err)
	}
	// The memo keeps the title and the full videoContext (its search
	// attribute may be shortened), and the summary names the video, so the
	// Web UI's list of runs says which video each one is.
	memo := map[string]*commonpb.Payload{}
	for k, v := range map[string]string{MemoTitle: in.Notification.Title, MemoVideoContext: in.Notification.VideoContext} {
		if memo[k], err = dc.ToPayload(v); err != nil {
			return nil, fmt.Errorf("encoding the memo: %w", err)
		}
	}
	summary, err := dc.ToPayload(StaticSummary(in.Notification))
	if err != nil {
		return nil, fmt.Errorf("encoding the summary: %w", err)
	}
	return &workflowservice.StartWorkflowExecutionRequest{
		Memo:                     &commonpb.Memo{Fields: memo},
		UserMetadata:             &sdkpb.UserMetadata{Summary: summary},
		Namespace:                opts.Namespace,
		WorkflowId:               WorkflowID(in.Notification.WochitVideoID),
		WorkflowType:             &commonpb.WorkflowType{Name: IngestVideoName},
		TaskQueue:                &taskqueuepb.TaskQueue{Name: TaskQueue, Kind: enumspb.TASK_QUEUE_KIND_NORMAL},
		Input:                    input,
		Identity:                 opts.Identity,
		RequestId:                uuid.NewString(),
		WorkflowIdReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE_FAILED_ONLY,
		WorkflowIdConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
	}, nil
}

// StartedWith reads the input a run was started with from its first event.
func StartedWith(ctx context.Context, c client.Client, dc converter.DataConverter, namespace, workflowID, runID string) (IngestInput, error) {
	var in IngestInput
	resp, err := c.WorkflowService().GetWorkflowExecutionHistory(ctx, &workflowservice.GetWorkflowExecutionHistoryRequest{
		Namespace:       namespace,
		Execution:       &commonpb.WorkflowExecution{WorkflowId: workflowID, RunId: runID},
		MaximumPageSize: 1,
	})
	if err != nil {
		return in, fmt.Errorf("reading the history of %s: %w", workflowID, err)
	}
	events := resp.GetHistory().GetEvents()
	if len(events) == 0 {
		return in, fmt.Errorf("run %s of %s has no history", runID, workflowID)
	}
	started := events[0].GetWorkflowExecutionStartedEventAttributes()
	if started == nil || started.GetWorkflowType().GetName() != IngestVideoName {
		return in, fmt.Errorf("run %s of %s is not an %s run", runID, workflowID, IngestVideoName)
	}
	if err := dc.FromPayloads(started.GetInput(), &in); err != nil {
		return in, fmt.Errorf("decoding the input of %s: %w", workflowID, err)
	}
	return in, nil
}

func dataConverter(dc converter.DataConverter) converter.DataConverter {
	if dc == nil {
		return converter.GetDefaultDataConverter()
	}
	return dc
}

// TemporalUnavailable tells the start failures that are Temporal's state,
// not the notification's: unavailable (down, unreachable, no leader),
// deadline exceeded (too slow, including StartTimeout), resource exhausted
// (rate limits, overload), namespace unavailable (a failover or maintenance
// of the namespace) and internal (a fault inside the server). The ingress diverts those
// to the inbox and the drain stops its pass on them. Anything else (an unknown namespace, permission, an invalid
// request) is a configuration fault the inbox would only hide: 503.
func TemporalUnavailable(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var unavailable *serviceerror.Unavailable
	var deadline *serviceerror.DeadlineExceeded
	var exhausted *serviceerror.ResourceExhausted
	var namespaceDown *serviceerror.NamespaceUnavailable
	var internal *serviceerror.Internal
	if errors.As(err, &unavailable) || errors.As(err, &deadline) || errors.As(err, &exhausted) ||
		errors.As(err, &namespaceDown) || errors.As(err, &internal) {
		return true
	}
	switch status.Code(err) {
	case codes.Unavailable, codes.DeadlineExceeded, codes.ResourceExhausted, codes.Internal:
		return true
	}
	return false
}

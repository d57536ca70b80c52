package ingress

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

	"github.com/google/uuid"

	"wochit-ingest/workflows"
)

// StartOptions say where a workflow is started and by whom.
type StartOptions struct {
	Namespace string
	// DataConverter must match the workers' (default converter when nil).
	DataConverter converter.DataConverter
	// Identity is recorded in the run's history as the starter.
	Identity string
}

// StartIngest starts the IngestVideo workflow for a notification, or finds
// the one already started for the same video. The ingress and the redeliver
// command both start runs through it, so a redelivery obeys the same rules as
// a notification.
//
// It calls StartWorkflowExecution directly rather than client.ExecuteWorkflow
// because only the raw response says whether this call started the run
// (202) or found it already running (200). The id policies make the start
// exactly-once per video:
//   - conflict policy USE_EXISTING: while a run is open, a duplicate attaches
//     to it instead of failing or starting another;
//   - reuse policy ALLOW_DUPLICATE_FAILED_ONLY: after a run completed, a
//     duplicate is answered with that run and nothing re-runs; after a run
//     failed, a redelivery starts a fresh run.
func StartIngest(ctx context.Context, c client.Client, opts StartOptions, in workflows.IngestInput) (runID string, started bool, err error) {
	dc := opts.DataConverter
	if dc == nil {
		dc = converter.GetDefaultDataConverter()
	}
	input, err := dc.ToPayloads(in)
	if err != nil {
		return "", false, fmt.Errorf("encoding workflow input: %w", err)
	}
	// The title goes into the memo and a one-line summary, so the Web UI's
	// list of runs says which video each one is.
	title, err := dc.ToPayload(in.Notification.Title)
	if err != nil {
		return "", false, fmt.Errorf("encoding the memo: %w", err)
	}
	summary, err := dc.ToPayload(workflows.StaticSummary(in.Notification))
	if err != nil {
		return "", false, fmt.Errorf("encoding the summary: %w", err)
	}
	req := &workflowservice.StartWorkflowExecutionRequest{
		Memo:                     &commonpb.Memo{Fields: map[string]*commonpb.Payload{workflows.MemoTitle: title}},
		UserMetadata:             &sdkpb.UserMetadata{Summary: summary},
		Namespace:                opts.Namespace,
		WorkflowId:               workflows.WorkflowID(in.Notification.WochitVideoID),
		WorkflowType:             &commonpb.WorkflowType{Name: workflows.IngestVideoName},
		TaskQueue:                &taskqueuepb.TaskQueue{Name: workflows.TaskQueue, Kind: enumspb.TASK_QUEUE_KIND_NORMAL},
		Input:                    input,
		Identity:                 opts.Identity,
		RequestId:                uuid.NewString(),
		WorkflowIdReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE_FAILED_ONLY,
		WorkflowIdConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
	}
	resp, err := c.WorkflowService().StartWorkflowExecution(ctx, req)
	var already *serviceerror.WorkflowExecutionAlreadyStarted
	if errors.As(err, &already) {
		// A closed run that may not be re-run (it completed): a duplicate.
		return already.RunId, false, nil
	}
	if err != nil {
		return "", false, err
	}
	return resp.GetRunId(), resp.GetStarted(), nil
}

func (s *Server) startIngest(ctx context.Context, in workflows.IngestInput) (runID string, started bool, err error) {
	return StartIngest(ctx, s.temporal, StartOptions{
		Namespace: s.cfg.Namespace, DataConverter: s.cfg.DataConverter, Identity: "wochit-ingest ingress",
	}, in)
}

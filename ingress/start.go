package ingress

import (
	"context"
	"errors"
	"fmt"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	taskqueuepb "go.temporal.io/api/taskqueue/v1"
	"go.temporal.io/api/workflowservice/v1"

	"github.com/google/uuid"

	"wochit-ingest/workflows"
)

// startIngest starts the IngestVideo workflow for a notification, or finds the
// one already started for the same video.
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
func (s *Server) startIngest(ctx context.Context, in workflows.IngestInput) (runID string, started bool, err error) {
	input, err := s.cfg.DataConverter.ToPayloads(in)
	if err != nil {
		return "", false, fmt.Errorf("encoding workflow input: %w", err)
	}
	req := &workflowservice.StartWorkflowExecutionRequest{
		Namespace:                s.cfg.Namespace,
		WorkflowId:               workflows.WorkflowID(in.Notification.WochitVideoID),
		WorkflowType:             &commonpb.WorkflowType{Name: workflows.IngestVideoName},
		TaskQueue:                &taskqueuepb.TaskQueue{Name: workflows.TaskQueue, Kind: enumspb.TASK_QUEUE_KIND_NORMAL},
		Input:                    input,
		Identity:                 "wochit-ingest ingress",
		RequestId:                uuid.NewString(),
		WorkflowIdReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE_FAILED_ONLY,
		WorkflowIdConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
	}
	resp, err := s.temporal.WorkflowService().StartWorkflowExecution(ctx, req)
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

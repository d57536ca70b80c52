// Client code: sending a video's callback again, for operators and the
// `wochit-ingest redeliver` command. Like start.go, it is never called from a
// workflow function.

package workflows

import (
	"context"
	"errors"
	"fmt"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
)

// RedeliverAction is what Redeliver did.
type RedeliverAction string

const (
	// RedeliverSignalled: the run is open; its next callback attempt starts
	// now (or, while it is still copying, as soon as the files are stored).
	RedeliverSignalled RedeliverAction = "signalled"
	// RedeliverRestarted: the last run had failed; a new run sends the
	// callback again.
	RedeliverRestarted RedeliverAction = "restarted"
	// RedeliverAlreadyDelivered: the last run completed, so the callback was
	// delivered.
	RedeliverAlreadyDelivered RedeliverAction = "already-delivered"
)

// RedeliverOptions say where the video's workflow lives.
type RedeliverOptions struct {
	Namespace string
	// DataConverter must match the workers' (default converter when nil).
	DataConverter converter.DataConverter
}

// RedeliverResult reports what Redeliver did.
type RedeliverResult struct {
	Action     RedeliverAction
	WorkflowID string
	// RunID is the run signalled, started or found completed.
	RunID string
	// FailedRunID and Failure describe the failed run a Restarted replaces.
	FailedRunID string
	Failure     string
	// Callback is the delivery of the completed run (AlreadyDelivered).
	Callback CallbackReport
}

// redeliverAttempts bounds how often Redeliver looks again when the run changes state
// between a look and the action (it closes as it is signalled, or someone
// else starts a new run first).
const redeliverAttempts = 3

// Redeliver sends the callback of the video's ingest again. While the
// video's run is open it sends the run the redeliver signal, which cuts the
// wait before the next attempt short. When the last run failed it starts a
// new run with that run's input (through StartIngest, so the same rules as
// for a notification apply): the new run finds both files already stored and
// verified (it never downloads them again, even after the links expired) and
// sends the callback with the same webhook-id, so a receiver that already has
// it deduplicates it.
func Redeliver(ctx context.Context, c client.Client, opts RedeliverOptions, wochitVideoID string) (RedeliverResult, error) {
	if opts.DataConverter == nil {
		opts.DataConverter = converter.GetDefaultDataConverter()
	}
	workflowID := WorkflowID(wochitVideoID)
	for range redeliverAttempts {
		desc, err := c.DescribeWorkflowExecution(ctx, workflowID, "")
		var notFound *serviceerror.NotFound
		if errors.As(err, &notFound) {
			return RedeliverResult{}, fmt.Errorf("no ingest of video %q (workflow %s) in namespace %s", wochitVideoID, workflowID, opts.Namespace)
		}
		if err != nil {
			return RedeliverResult{}, fmt.Errorf("describing %s: %w", workflowID, err)
		}
		info := desc.GetWorkflowExecutionInfo()
		runID := info.GetExecution().GetRunId()
		res := RedeliverResult{WorkflowID: workflowID, RunID: runID}

		switch info.GetStatus() {
		case enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING:
			err := c.SignalWorkflow(ctx, workflowID, runID, RedeliverSignal, nil)
			if errors.As(err, &notFound) {
				continue // it closed in the meantime
			}
			if err != nil {
				return RedeliverResult{}, fmt.Errorf("signalling %s: %w", workflowID, err)
			}
			res.Action = RedeliverSignalled
			return res, nil

		case enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED:
			var out IngestResult
			if err := c.GetWorkflow(ctx, workflowID, runID).Get(ctx, &out); err != nil {
				return RedeliverResult{}, fmt.Errorf("reading the result of %s: %w", workflowID, err)
			}
			res.Action, res.Callback = RedeliverAlreadyDelivered, out.Callback
			return res, nil

		default: // failed, timed out, terminated or cancelled: may run again
			in, err := StartedWith(ctx, c, opts.DataConverter, opts.Namespace, workflowID, runID)
			if err != nil {
				return RedeliverResult{}, err
			}
			newRunID, started, err := StartIngest(ctx, c, StartOptions{
				Namespace: opts.Namespace, DataConverter: opts.DataConverter, Identity: "wochit-ingest redeliver",
			}, in)
			var conflict *ConflictError
			if errors.As(err, &conflict) {
				continue // a new notification started a run first; look at it
			}
			if err != nil {
				return RedeliverResult{}, fmt.Errorf("starting a new run of %s: %w", workflowID, err)
			}
			if !started {
				continue // someone else started one first; look at it
			}
			res.Action, res.RunID, res.FailedRunID = RedeliverRestarted, newRunID, runID
			res.Failure = runFailure(ctx, c, workflowID, runID)
			return res, nil
		}
	}
	return RedeliverResult{}, fmt.Errorf("%s kept changing state; try again", workflowID)
}

// runFailure says why a run failed: its reason code and message when it failed
// with one, otherwise whatever Temporal reports (terminated, timed out…).
func runFailure(ctx context.Context, c client.Client, workflowID, runID string) string {
	err := c.GetWorkflow(ctx, workflowID, runID).Get(ctx, nil)
	var appErr *temporal.ApplicationError
	switch {
	case err == nil:
		return ""
	case errors.As(err, &appErr) && appErr.Type() != "":
		return appErr.Type() + ": " + appErr.Message()
	default:
		return err.Error()
	}
}

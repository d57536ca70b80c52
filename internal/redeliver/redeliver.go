// Package redeliver sends a video's callback again, for operators and the
// `wochit-ingest redeliver` command. While the video's run is open it sends
// the run the redeliver signal, which cuts the wait before the next attempt
// short. When the last run failed it starts a new run with that run's input:
// the new run finds both files already stored and verified (it never
// downloads them again, even after the links expired) and sends the callback
// with the same webhook-id, so a receiver that already has it deduplicates it.
package redeliver

import (
	"context"
	"errors"
	"fmt"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"

	"github.com/wochit-ingest/wochit-ingest/ingress"
	"github.com/wochit-ingest/wochit-ingest/workflows"
)

// Action is what Redeliver did.
type Action string

const (
	// Signalled: the run is open; its next callback attempt starts now (or,
	// while it is still copying, as soon as the files are stored).
	Signalled Action = "signalled"
	// Restarted: the last run had failed; a new run sends the callback again.
	Restarted Action = "restarted"
	// AlreadyDelivered: the last run completed, so the callback was delivered.
	AlreadyDelivered Action = "already-delivered"
)

// Options say where the video's workflow lives.
type Options struct {
	Namespace string
	// DataConverter must match the workers' (default converter when nil).
	DataConverter converter.DataConverter
}

// Result reports what Redeliver did.
type Result struct {
	Action     Action
	WorkflowID string
	// RunID is the run signalled, started or found completed.
	RunID string
	// FailedRunID and Failure describe the failed run a Restarted replaces.
	FailedRunID string
	Failure     string
	// Callback is the delivery of the completed run (AlreadyDelivered).
	Callback workflows.CallbackReport
}

// attempts bounds how often Redeliver looks again when the run changes state
// between a look and the action (it closes as it is signalled, or someone
// else starts a new run first).
const attempts = 3

// Redeliver sends the callback of the video's ingest again; see the package
// comment.
func Redeliver(ctx context.Context, c client.Client, opts Options, wochitVideoID string) (Result, error) {
	if opts.DataConverter == nil {
		opts.DataConverter = converter.GetDefaultDataConverter()
	}
	workflowID := workflows.WorkflowID(wochitVideoID)
	for range attempts {
		desc, err := c.DescribeWorkflowExecution(ctx, workflowID, "")
		var notFound *serviceerror.NotFound
		if errors.As(err, &notFound) {
			return Result{}, fmt.Errorf("no ingest of video %q (workflow %s) in namespace %s", wochitVideoID, workflowID, opts.Namespace)
		}
		if err != nil {
			return Result{}, fmt.Errorf("describing %s: %w", workflowID, err)
		}
		info := desc.GetWorkflowExecutionInfo()
		runID := info.GetExecution().GetRunId()
		res := Result{WorkflowID: workflowID, RunID: runID}

		switch info.GetStatus() {
		case enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING:
			err := c.SignalWorkflow(ctx, workflowID, runID, workflows.RedeliverSignal, nil)
			if errors.As(err, &notFound) {
				continue // it closed in the meantime
			}
			if err != nil {
				return Result{}, fmt.Errorf("signalling %s: %w", workflowID, err)
			}
			res.Action = Signalled
			return res, nil

		case enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED:
			var out workflows.IngestResult
			if err := c.GetWorkflow(ctx, workflowID, runID).Get(ctx, &out); err != nil {
				return Result{}, fmt.Errorf("reading the result of %s: %w", workflowID, err)
			}
			res.Action, res.Callback = AlreadyDelivered, out.Callback
			return res, nil

		default: // failed, timed out, terminated or cancelled: may run again
			in, err := ingress.StartedWith(ctx, c, opts.DataConverter, opts.Namespace, workflowID, runID)
			if err != nil {
				return Result{}, err
			}
			newRunID, started, err := ingress.StartIngest(ctx, c, ingress.StartOptions{
				Namespace: opts.Namespace, DataConverter: opts.DataConverter, Identity: "wochit-ingest redeliver",
			}, in)
			var conflict *ingress.ConflictError
			if errors.As(err, &conflict) {
				continue // a new notification started a run first; look at it
			}
			if err != nil {
				return Result{}, fmt.Errorf("starting a new run of %s: %w", workflowID, err)
			}
			if !started {
				continue // someone else started one first; look at it
			}
			res.Action, res.RunID, res.FailedRunID = Restarted, newRunID, runID
			res.Failure = failure(ctx, c, workflowID, runID)
			return res, nil
		}
	}
	return Result{}, fmt.Errorf("%s kept changing state; try again", workflowID)
}

// failure says why a run failed: its reason code and message when it failed
// with one, otherwise whatever Temporal reports (terminated, timed out…).
func failure(ctx context.Context, c client.Client, workflowID, runID string) string {
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

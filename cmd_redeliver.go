package main

import (
	"context"
	"fmt"
	"io"

	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"

	"github.com/wochit-ingest/wochit-ingest/workflows"
)

// runRedeliver sends a video's callback again: it signals the open run, or
// starts a new run after a failed one (which reuses the stored files).
func runRedeliver(ctx context.Context, args, environ []string, stdout, stderr io.Writer) error {
	cfg, err := loadRedeliver(args, environ, stderr)
	if err != nil {
		return err
	}
	cfg.Temporal.Logger = sdklog.NewStructuredLogger(newLogger(logQuiet, io.Discard))
	c, err := client.DialContext(ctx, cfg.Temporal)
	if err != nil {
		return fmt.Errorf("connecting to Temporal at %s: %w", cfg.Temporal.HostPort, err)
	}
	defer c.Close()

	res, err := workflows.Redeliver(ctx, c, workflows.RedeliverOptions{Namespace: cfg.Temporal.Namespace, DataConverter: cfg.Temporal.DataConverter}, cfg.VideoID)
	if err != nil {
		return err
	}
	switch res.Action {
	case workflows.RedeliverAlreadyDelivered:
		fmt.Fprintf(stdout, "%s completed: its %s callback was delivered (webhook-id %s, %d attempt(s)). Nothing to do.\n",
			res.WorkflowID, res.Callback.EventType, res.Callback.WebhookID, len(res.Callback.Attempts))
		return nil
	case workflows.RedeliverSignalled:
		fmt.Fprintf(stdout, "%s is running (run %s): sent the redeliver signal. Its next callback attempt starts now,\n"+
			"or as soon as both files are stored if it is still copying them.\n", res.WorkflowID, res.RunID)
	case workflows.RedeliverRestarted:
		fmt.Fprintf(stdout, "%s failed in run %s (%s).\n"+
			"Started run %s with the original notification: files already stored are reused, not downloaded\n"+
			"again, and the callback goes out with the same webhook-id.\n", res.WorkflowID, res.FailedRunID, res.Failure, res.RunID)
	}
	if !cfg.Wait {
		fmt.Fprintf(stdout, "Follow it in the Web UI, or: temporal workflow query --type status -w %s\n", res.WorkflowID)
		return nil
	}
	return follow(ctx, c, cfg.Temporal.DataConverter, res.WorkflowID, res.RunID, stdout)
}

package operate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/wochit-ingest/wochit-ingest/activities"
	"github.com/wochit-ingest/wochit-ingest/workflows"
)

// ErrIngestFailed is Follow's answer when the run failed (what failed has
// been written out).
var ErrIngestFailed = errors.New("the ingest failed")

// FollowVideo follows the latest run of a video (`wochit-ingest follow`).
func FollowVideo(ctx context.Context, c client.Client, opts Options, wochitVideoID string, out io.Writer) error {
	runID, err := latestRun(ctx, c, opts, wochitVideoID)
	if err != nil {
		return err
	}
	return Follow(ctx, c, opts, workflows.WorkflowID(wochitVideoID), runID, out)
}

// Follow shows a run's progress until it closes, then its outcome: the
// stored objects and the callback, or what failed (ErrIngestFailed). It
// first reads the run's input, so keys that cannot decrypt the run are a
// *KeyError up front, never taken for the run's failure.
func Follow(ctx context.Context, c client.Client, opts Options, workflowID, runID string, out io.Writer) error {
	fmt.Fprintf(out, "Following %s …\n", workflowID)
	if _, err := CheckKeys(ctx, c, opts, workflowID, runID); err != nil {
		return err
	}
	dc := opts.dc()
	resultCh := make(chan error, 1)
	var result workflows.IngestResult
	go func() { resultCh <- c.GetWorkflow(ctx, workflowID, runID).Get(ctx, &result) }()

	ticker := time.NewTicker(500 * time.Millisecond)
	defer ticker.Stop()
	last := ""
	for {
		select {
		case err := <-resultCh:
			if err != nil {
				if IsKeyError(err) {
					return opts.keyError(err)
				}
				fmt.Fprintf(out, "✗ failed: %v\n", err)
				return ErrIngestFailed
			}
			fmt.Fprintf(out, "✓ stored\n  video      %s (%d bytes, crc32c %s)\n  thumbnail  %s (%d bytes, crc32c %s)\n  callback   %s delivered (webhook-id %s, %d attempt(s))\n",
				result.Video.URI, result.Video.Size, result.Video.CRC32C,
				result.Thumbnail.URI, result.Thumbnail.Size, result.Thumbnail.CRC32C,
				result.Callback.EventType, result.Callback.WebhookID, len(result.Callback.Attempts))
			return nil
		case <-ctx.Done():
			return ctx.Err()
		case <-ticker.C:
			if line := progressLine(ctx, c, dc, workflowID, runID); line != "" && line != last {
				fmt.Fprintln(out, "  "+line)
				last = line
			}
		}
	}
}

// progressLine summarises the pending activities' heartbeats.
func progressLine(ctx context.Context, c client.Client, dc converter.DataConverter, workflowID, runID string) string {
	desc, err := c.DescribeWorkflowExecution(ctx, workflowID, runID)
	if err != nil {
		return ""
	}
	var parts []string
	for _, pa := range desc.GetPendingActivities() {
		name := pa.GetActivityType().GetName()
		if name == "DeliverCallback" {
			continue // each callback attempt is one activity; callbackLine counts them
		}
		if name != "TransferToGCS" {
			parts = append(parts, fmt.Sprintf("%s (attempt %d)", name, pa.GetAttempt()))
			continue
		}
		var p activities.TransferProgress
		if hb := pa.GetHeartbeatDetails(); hb != nil && dc.FromPayloads(hb, &p) == nil {
			parts = append(parts, fmt.Sprintf("%s: %s", p.Kind, formatProgress(p)))
		} else {
			parts = append(parts, "transfer: starting")
		}
		if pa.GetState() == enumspb.PENDING_ACTIVITY_STATE_SCHEDULED && pa.GetAttempt() > 1 {
			parts[len(parts)-1] += fmt.Sprintf(" (retry %d: %s)", pa.GetAttempt()-1, failureText(dc, pa.GetLastFailure()))
		}
	}
	if len(parts) == 0 && desc.GetWorkflowExecutionInfo().GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
		parts = append(parts, callbackLine(ctx, c, workflowID, runID))
	}
	return strings.Join(parts, " | ")
}

// callbackLine says where the callback stands, from the status query.
func callbackLine(ctx context.Context, c client.Client, workflowID, runID string) string {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second) // no worker, no answer
	defer cancel()
	v, err := c.QueryWorkflow(ctx, workflowID, runID, workflows.StatusQuery)
	var s workflows.Status
	if err != nil || v.Get(&s) != nil || s.Stage != workflows.StageCallingBack {
		return ""
	}
	cb := s.Callback
	line := "callback " + string(cb.EventType) + ": "
	next := len(cb.Attempts) + 1
	if next > 1 {
		last := cb.Attempts[next-2]
		line += fmt.Sprintf("attempt %d failed (%s); ", last.Attempt, last.Error)
	}
	if !cb.NextAttemptAt.IsZero() {
		return line + fmt.Sprintf("attempt %d at %s", next, cb.NextAttemptAt.Local().Format(time.TimeOnly))
	}
	return line + fmt.Sprintf("sending attempt %d", next)
}

func formatProgress(p activities.TransferProgress) string {
	const mib = 1 << 20
	if p.Total <= 0 {
		return fmt.Sprintf("%.1f MiB", float64(p.Bytes)/mib)
	}
	s := fmt.Sprintf("%.1f / %.1f MiB (%d%%)", float64(p.Bytes)/mib, float64(p.Total)/mib, p.Bytes*100/p.Total)
	if p.PartSize > 0 {
		s += fmt.Sprintf(", %d of %d parts", len(p.Parts), (p.Total+p.PartSize-1)/p.PartSize)
	}
	return s
}

package workflows

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"wochit-ingest/activities"
)

// DefaultCallbackSchedule is the wait before each callback attempt: the first
// goes out at once, the last about 27.5 hours later. Each wait is stretched by
// up to callbackJitter so that many callbacks failing together do not retry
// in lockstep.
var DefaultCallbackSchedule = []time.Duration{
	0, 5 * time.Second, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour, 5 * time.Hour, 10 * time.Hour, 10 * time.Hour,
}

const (
	callbackJitter = 0.1
	// maxRetryAfter caps how long a Retry-After header can postpone the next
	// attempt, so a bogus value cannot park a delivery forever.
	maxRetryAfter = 12 * time.Hour
)

// Reasons a callback delivery ends without success; the workflow fails with
// them as its error type.
const (
	ReasonCallbackGone      = "CallbackGone"      // 410: the endpoint asked us to stop
	ReasonCallbackRejected  = "CallbackRejected"  // another 4xx: retrying would not help
	ReasonCallbackExhausted = "CallbackExhausted" // the whole schedule failed
)

// CallbackReport is the history of one delivery.
type CallbackReport struct {
	WebhookID string
	EventType string
	Delivered bool
	Attempts  []activities.CallbackAttempt
}

// WebhookID derives the webhook-id of an event from the workflow id, so it is
// stable across attempts and across runs: a redelivery after a failed run
// carries the same id and receivers deduplicate it.
func WebhookID(workflowID, eventType string) string {
	sum := sha256.Sum256([]byte(workflowID + "/" + eventType))
	return "msg_" + hex.EncodeToString(sum[:16])
}

// deliver runs the callback schedule: one single-attempt activity per entry,
// durable sleeps in between (a redeliver signal cuts a sleep short).
func deliver(ctx workflow.Context, event activities.Event, schedule []time.Duration, status *Status) (CallbackReport, error) {
	var a *activities.Activities
	if len(schedule) == 0 {
		schedule = DefaultCallbackSchedule
	}
	workflowID := workflow.GetInfo(ctx).WorkflowExecution.ID
	report := CallbackReport{WebhookID: WebhookID(workflowID, event.Type), EventType: event.Type}
	attemptCtx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: callbackAttemptTimeout,
		RetryPolicy:         &temporal.RetryPolicy{MaximumAttempts: 1},
		Summary:             event.Type + " callback",
	})
	redeliver := workflow.GetSignalChannel(ctx, RedeliverSignal)

	var retryAfter time.Duration
	for i, delay := range schedule {
		attempt := i + 1
		wait := max(jittered(delay, workflowID, attempt), min(retryAfter, maxRetryAfter))
		if wait > 0 {
			workflow.SetCurrentDetails(ctx, fmt.Sprintf("Callback attempt %d of %d at %s (send the %q signal to retry now).",
				attempt, len(schedule), workflow.Now(ctx).Add(wait).UTC().Format(time.RFC3339), RedeliverSignal))
			sleepUnlessSignalled(ctx, wait, redeliver)
		}

		var res activities.CallbackAttempt
		if err := workflow.ExecuteActivity(attemptCtx, a.DeliverCallback, activities.CallbackInput{
			WebhookID: report.WebhookID, Event: event, Attempt: attempt,
		}).Get(ctx, &res); err != nil {
			// The attempt did not even report back (worker lost, timeout,
			// misconfigured worker): count it as a failed attempt.
			res = activities.CallbackAttempt{Attempt: attempt, At: workflow.Now(ctx), Outcome: activities.CallbackRetry, Error: err.Error()}
		}
		report.Attempts = append(report.Attempts, res)
		status.Callback = report

		switch res.Outcome {
		case activities.CallbackDelivered:
			report.Delivered = true
			status.Callback = report
			return report, nil
		case activities.CallbackGone:
			return report, temporal.NewNonRetryableApplicationError(
				fmt.Sprintf("callback endpoint answered 410 Gone on attempt %d; not retrying", attempt), ReasonCallbackGone, nil)
		case activities.CallbackRejected:
			return report, temporal.NewNonRetryableApplicationError(
				fmt.Sprintf("callback rejected on attempt %d: %s", attempt, res.Error), ReasonCallbackRejected, nil)
		}
		retryAfter = res.RetryAfter
	}
	last := report.Attempts[len(report.Attempts)-1]
	return report, temporal.NewNonRetryableApplicationError(
		fmt.Sprintf("callback not delivered after %d attempts; last: %s", len(report.Attempts), last.Error), ReasonCallbackExhausted, nil)
}

// sleepUnlessSignalled waits for d or until a redeliver signal arrives.
func sleepUnlessSignalled(ctx workflow.Context, d time.Duration, signal workflow.ReceiveChannel) {
	timerCtx, cancelTimer := workflow.WithCancel(ctx)
	defer cancelTimer()
	selector := workflow.NewSelector(ctx)
	selector.AddFuture(workflow.NewTimer(timerCtx, d), func(workflow.Future) {})
	selector.AddReceive(signal, func(c workflow.ReceiveChannel, more bool) { c.Receive(ctx, nil) })
	selector.Select(ctx)
}

// jittered stretches d by a fraction in [0, callbackJitter) that depends only
// on the workflow id and attempt, so replays compute the same wait.
func jittered(d time.Duration, workflowID string, attempt int) time.Duration {
	if d <= 0 {
		return d
	}
	sum := sha256.Sum256([]byte(fmt.Sprintf("%s#%d", workflowID, attempt)))
	frac := float64(binary.BigEndian.Uint32(sum[:4])) / (1 << 32)
	return d + time.Duration(frac*callbackJitter*float64(d))
}

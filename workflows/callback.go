package workflows

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/wochit-ingest/wochit-ingest/contract"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/wochit-ingest/wochit-ingest/activities"
)

const (
	callbackJitter = 0.1
	// maxRetryAfter caps how long a Retry-After header can postpone the next
	// attempt, so a bogus value cannot park a delivery forever.
	maxRetryAfter = 12 * time.Hour
)

// CallbackState is where a delivery stands. The status query reports it and
// the workflow keeps the CallbackStatus search attribute equal to it, so
// operators can list, say, every run whose callback is retrying.
type CallbackState string

const (
	CallbackPending   CallbackState = "pending"   // no attempt has answered yet
	CallbackRetrying  CallbackState = "retrying"  // an attempt failed; another is scheduled
	CallbackDelivered CallbackState = "delivered" // the endpoint answered 2xx
	CallbackGone      CallbackState = "gone"      // 410: stopped for good
	CallbackRejected  CallbackState = "rejected"  // another 4xx: stopped
	CallbackExhausted CallbackState = "exhausted" // every attempt of the schedule failed
)

var callbackStatusKey = temporal.NewSearchAttributeKeyKeyword(SearchAttrCallbackStatus)

// CallbackReport is the history of one delivery.
type CallbackReport struct {
	WebhookID string
	EventType contract.EventType
	State     CallbackState `json:",omitempty"`
	Delivered bool
	Attempts  []activities.CallbackAttempt
	// NextAttemptAt is when the next attempt is due, while one is waited for.
	NextAttemptAt time.Time `json:",omitzero"`
}

// WebhookID derives the webhook-id of an event from the workflow id, so it is
// stable across attempts and across runs: a redelivery after a failed run
// carries the same id and receivers deduplicate it.
func WebhookID(workflowID string, eventType contract.EventType) string {
	sum := sha256.Sum256([]byte(workflowID + "/" + string(eventType)))
	return "msg_" + hex.EncodeToString(sum[:16])
}

// deliver runs the callback schedule: one single-attempt activity per entry,
// durable sleeps in between (a redeliver signal cuts a sleep short). It keeps
// status.Callback current for the status query and returns it.
func deliver(ctx workflow.Context, event contract.Event, schedule []time.Duration, status *Status) (CallbackReport, error) {
	var a *activities.Activities
	if len(schedule) == 0 {
		schedule = DefaultCallbackSchedule
	}
	workflowID := workflow.GetInfo(ctx).WorkflowExecution.ID
	status.Callback = CallbackReport{WebhookID: WebhookID(workflowID, event.Type), EventType: event.Type}
	report := &status.Callback
	attemptCtx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: callbackAttemptTimeout,
		RetryPolicy:         &temporal.RetryPolicy{MaximumAttempts: 1},
		Summary:             string(event.Type) + " callback",
	})
	redeliver := workflow.GetSignalChannel(ctx, RedeliverSignal)
	setState := func(s CallbackState) {
		if report.State == s {
			return
		}
		report.State = s
		if err := workflow.UpsertTypedSearchAttributes(ctx, callbackStatusKey.ValueSet(string(s))); err != nil {
			workflow.GetLogger(ctx).Warn("could not set the CallbackStatus search attribute", "error", err)
		}
		switch s {
		case CallbackDelivered, CallbackGone, CallbackRejected, CallbackExhausted:
			countDelivery(ctx, event.Type, s) // the delivery ended
		}
	}
	setState(CallbackPending)

	var retryAfter time.Duration
	for i, delay := range schedule {
		attempt := i + 1
		wait := max(jittered(delay, workflowID, attempt), min(retryAfter, maxRetryAfter))
		if wait > 0 {
			report.NextAttemptAt = workflow.Now(ctx).Add(wait)
			workflow.SetCurrentDetails(ctx, FitJSON(waitDetails(*report, event.Data.WochitVideoID, attempt, len(schedule)), MaxDetailsBytes))
			sleepUnlessSignalled(ctx, wait, redeliver)
			report.NextAttemptAt = time.Time{}
		}
		// This attempt answers every redeliver signal received so far; a
		// stale one must not cut the next wait short.
		for redeliver.ReceiveAsync(nil) {
		}
		workflow.SetCurrentDetails(ctx, fmt.Sprintf("Sending %s callback, attempt %d of %d.", event.Type, attempt, len(schedule)))

		var res activities.CallbackAttempt
		if err := workflow.ExecuteActivity(attemptCtx, a.DeliverCallback, activities.CallbackInput{
			WebhookID: report.WebhookID, Event: event, Attempt: attempt,
		}).Get(ctx, &res); err != nil {
			// The attempt did not even report back (worker lost, timeout,
			// misconfigured worker): count it as a failed attempt.
			res = activities.CallbackAttempt{Attempt: attempt, At: workflow.Now(ctx), Outcome: activities.AttemptRetry, Error: err.Error()}
		}
		report.Attempts = append(report.Attempts, res)

		switch res.Outcome {
		case activities.AttemptDelivered:
			report.Delivered = true
			setState(CallbackDelivered)
			return *report, nil
		case activities.AttemptGone:
			setState(CallbackGone)
			return *report, temporal.NewNonRetryableApplicationError(
				fmt.Sprintf("callback endpoint answered 410 Gone on attempt %d; not retrying", attempt), string(contract.CallbackGone), nil)
		case activities.AttemptRejected:
			setState(CallbackRejected)
			return *report, temporal.NewNonRetryableApplicationError(
				fmt.Sprintf("callback rejected on attempt %d: %s", attempt, res.Error), string(contract.CallbackRejected), nil)
		}
		if attempt < len(schedule) {
			setState(CallbackRetrying)
		}
		retryAfter = res.RetryAfter
	}
	setState(CallbackExhausted)
	last := report.Attempts[len(report.Attempts)-1]
	return *report, temporal.NewNonRetryableApplicationError(
		fmt.Sprintf("callback not delivered after %d attempts; last: %s", len(report.Attempts), last.Error), string(contract.CallbackExhausted), nil)
}

// waitDetails is the Web UI's current details while a retry is waited for.
func waitDetails(r CallbackReport, wochitVideoID string, attempt, attempts int) string {
	s := fmt.Sprintf("Callback %s: attempt %d of %d at %s", r.EventType, attempt, attempts, r.NextAttemptAt.UTC().Format(time.RFC3339))
	if n := len(r.Attempts); n > 0 {
		last := r.Attempts[n-1]
		s += fmt.Sprintf("; attempt %d failed: %s", last.Attempt, last.Error)
	}
	return s + fmt.Sprintf(". To retry now, send the %q signal or run `wochit-ingest redeliver %s`.", RedeliverSignal, wochitVideoID)
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

package workflows_test

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/wochit-ingest/wochit-ingest/contract"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/temporal"

	"github.com/wochit-ingest/wochit-ingest/activities"
	"github.com/wochit-ingest/wochit-ingest/workflows"
)

// attemptAt is one DeliverCallback call as the workflow made it.
type attemptAt struct {
	in activities.CallbackInput
	at time.Time // workflow time when the attempt started
}

// callbackEnv runs IngestVideo with instant transfers and a callback endpoint
// that answers attempt n with answer(n). Timers are skipped, so a 27-hour
// schedule runs in milliseconds.
type callbackEnv struct {
	*testEnv
	attempts        []attemptAt
	states          []string // CallbackStatus values upserted, in order
	transfersMocked bool
}

func newCallbackEnv(t *testing.T, answer func(attempt int) activities.CallbackAttempt) *callbackEnv {
	env := &callbackEnv{testEnv: newEnv(t)}
	env.OnActivity(a.DeliverCallback, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.CallbackInput) (activities.CallbackAttempt, error) {
			env.mu.Lock()
			env.attempts = append(env.attempts, attemptAt{in, env.Now()})
			env.mu.Unlock()
			res := answer(in.Attempt)
			res.Attempt, res.At = in.Attempt, env.Now()
			return res, nil
		})
	key := temporal.NewSearchAttributeKeyKeyword(workflows.SearchAttrCallbackStatus)
	env.OnUpsertTypedSearchAttributes(mock.Anything).Return(nil).Run(func(args mock.Arguments) {
		if v, ok := args.Get(0).(temporal.SearchAttributes).GetKeyword(key); ok {
			env.states = append(env.states, v)
		}
	})
	return env
}

func (env *callbackEnv) run(schedule []time.Duration) {
	if !env.transfersMocked {
		env.OnActivity(a.TransferToGCS, mock.Anything, mock.Anything).Return(
			func(_ context.Context, in activities.TransferInput) (activities.TransferResult, error) {
				return activities.TransferResult{Object: stored(in.Kind)}, nil
			})
	}
	in := sampleInput()
	in.CallbackSchedule = schedule
	env.ExecuteWorkflow(workflows.IngestVideo, in)
}

func answer(status int, outcome activities.AttemptOutcome) activities.CallbackAttempt {
	return activities.CallbackAttempt{StatusCode: status, Outcome: outcome}
}

// gaps returns the workflow time between consecutive attempts.
func (env *callbackEnv) gaps() []time.Duration {
	var gaps []time.Duration
	for i := 1; i < len(env.attempts); i++ {
		gaps = append(gaps, env.attempts[i].at.Sub(env.attempts[i-1].at))
	}
	return gaps
}

// checkGaps asserts each wait between attempts is the scheduled one,
// stretched by no more than the 10 % jitter.
func checkGaps(t *testing.T, gaps, schedule []time.Duration) {
	t.Helper()
	for i, got := range gaps {
		want := schedule[i+1]
		if got < want || got > want+want/10 {
			t.Errorf("attempt %d came %s after attempt %d; the schedule says %s (+ at most 10%% jitter)", i+2, got, i+1, want)
		}
	}
}

func (env *callbackEnv) checkSameWebhookID(t *testing.T) {
	t.Helper()
	want := workflows.WebhookID("default-test-workflow-id", contract.VideoStored)
	for _, at := range env.attempts {
		if at.in.WebhookID != want {
			t.Errorf("attempt %d carried webhook-id %q, want %q on every attempt", at.in.Attempt, at.in.WebhookID, want)
		}
	}
}

func failedWith(t *testing.T, err error) contract.Reason {
	t.Helper()
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) {
		t.Fatalf("workflow error = %v, want an ApplicationError", err)
	}
	return contract.Reason(appErr.Type())
}

func TestCallbackDeliveredOnSixthAttemptAtScheduledTimes(t *testing.T) {
	env := newCallbackEnv(t, func(attempt int) activities.CallbackAttempt {
		if attempt <= 5 {
			return answer(http.StatusInternalServerError, activities.AttemptRetry)
		}
		return answer(http.StatusOK, activities.AttemptDelivered)
	})
	schedule := workflows.DefaultCallbackSchedule
	// While attempt 6 is waited for (2 h after attempt 5), the status query
	// shows every attempt so far.
	var during workflows.Status
	env.RegisterDelayedCallback(func() {
		v, err := env.QueryWorkflow(workflows.StatusQuery)
		if err != nil {
			t.Errorf("status query: %v", err)
			return
		}
		if err := v.Get(&during); err != nil {
			t.Error(err)
		}
	}, 3*time.Hour)
	env.run(schedule)

	if err := env.GetWorkflowError(); err != nil {
		t.Fatalf("workflow failed: %v", err)
	}
	var res workflows.IngestResult
	if err := env.GetWorkflowResult(&res); err != nil {
		t.Fatal(err)
	}
	if len(env.attempts) != 6 || len(res.Callback.Attempts) != 6 {
		t.Fatalf("%d attempts (result lists %d), want 6", len(env.attempts), len(res.Callback.Attempts))
	}
	if !res.Callback.Delivered || res.Callback.State != workflows.CallbackDelivered {
		t.Fatalf("callback = %+v, want delivered", res.Callback)
	}
	checkGaps(t, env.gaps(), schedule)
	env.checkSameWebhookID(t)
	for i, at := range res.Callback.Attempts {
		if at.Attempt != i+1 || at.At.IsZero() {
			t.Errorf("result attempt %d = %+v, want numbered and timed", i+1, at)
		}
	}
	if want := []string{"pending", "retrying", "delivered"}; !slices.Equal(env.states, want) {
		t.Errorf("CallbackStatus upserts = %v, want %v", env.states, want)
	}

	if during.Stage != workflows.StageCallingBack || during.Callback.State != workflows.CallbackRetrying ||
		len(during.Callback.Attempts) != 5 || during.Callback.Attempts[4].StatusCode != http.StatusInternalServerError ||
		!during.Callback.NextAttemptAt.After(env.attempts[4].at) {
		t.Errorf("status during the wait = %+v, want stage calling-back, retrying after 5 attempts, next attempt due", during)
	}
}

func TestCallbackStopsAtOnceOnGoneAndRejected(t *testing.T) {
	tests := []struct {
		name       string
		answer     activities.CallbackAttempt
		wantReason contract.Reason
		wantState  string
	}{
		{"410 Gone", answer(http.StatusGone, activities.AttemptGone), contract.CallbackGone, "gone"},
		{"400 Bad Request", answer(http.StatusBadRequest, activities.AttemptRejected), contract.CallbackRejected, "rejected"},
		{"401 Unauthorized", answer(http.StatusUnauthorized, activities.AttemptRejected), contract.CallbackRejected, "rejected"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newCallbackEnv(t, func(int) activities.CallbackAttempt { return tt.answer })
			env.run(workflows.DefaultCallbackSchedule)
			if !env.IsWorkflowCompleted() {
				t.Fatal("workflow did not complete")
			}
			if got := failedWith(t, env.GetWorkflowError()); got != tt.wantReason {
				t.Fatalf("workflow failed with %s, want %s", got, tt.wantReason)
			}
			if len(env.attempts) != 1 {
				t.Fatalf("%d attempts, want exactly 1", len(env.attempts))
			}
			if want := []string{"pending", tt.wantState}; !slices.Equal(env.states, want) {
				t.Errorf("CallbackStatus upserts = %v, want %v", env.states, want)
			}
		})
	}
}

// 3xx, 408, 429, 5xx and network errors are all retried.
func TestCallbackRetriesTransientFailures(t *testing.T) {
	for _, first := range []activities.CallbackAttempt{
		answer(http.StatusFound, activities.AttemptRetry),
		answer(http.StatusRequestTimeout, activities.AttemptRetry),
		answer(http.StatusTooManyRequests, activities.AttemptRetry),
		answer(http.StatusServiceUnavailable, activities.AttemptRetry),
		{Outcome: activities.AttemptRetry, Error: "connection refused"},
	} {
		env := newCallbackEnv(t, func(attempt int) activities.CallbackAttempt {
			if attempt == 1 {
				return first
			}
			return answer(http.StatusNoContent, activities.AttemptDelivered)
		})
		env.run(workflows.DefaultCallbackSchedule)
		if err := env.GetWorkflowError(); err != nil || len(env.attempts) != 2 {
			t.Errorf("after %+v: workflow error %v, %d attempts; want delivered on attempt 2", first, err, len(env.attempts))
		}
	}
}

func TestCallbackExhaustedAfterTheFullSchedule(t *testing.T) {
	env := newCallbackEnv(t, func(int) activities.CallbackAttempt {
		return answer(http.StatusServiceUnavailable, activities.AttemptRetry)
	})
	schedule := workflows.DefaultCallbackSchedule
	env.run(schedule)

	if got := failedWith(t, env.GetWorkflowError()); got != contract.CallbackExhausted {
		t.Fatalf("workflow failed with %s, want %s", got, contract.CallbackExhausted)
	}
	if len(env.attempts) != len(schedule) {
		t.Fatalf("%d attempts, want %d", len(env.attempts), len(schedule))
	}
	checkGaps(t, env.gaps(), schedule)
	env.checkSameWebhookID(t)
	var total time.Duration
	for _, d := range schedule {
		total += d
	}
	if span := env.attempts[len(env.attempts)-1].at.Sub(env.attempts[0].at); span < total {
		t.Errorf("the attempts spanned %s, want at least the schedule's %s", span, total)
	}
	if want := []string{"pending", "retrying", "exhausted"}; !slices.Equal(env.states, want) {
		t.Errorf("CallbackStatus upserts = %v, want %v", env.states, want)
	}
}

func TestCallbackHonoursLongerRetryAfter(t *testing.T) {
	schedule := []time.Duration{0, 5 * time.Second, 5 * time.Minute}
	tests := []struct {
		name       string
		retryAfter time.Duration
		wantMin    time.Duration // the second attempt comes no earlier
		wantMax    time.Duration // and no later
	}{
		{"longer than the schedule wins", 2 * time.Hour, 2 * time.Hour, 2*time.Hour + time.Second},
		{"shorter than the schedule is ignored", time.Second, 5 * time.Second, 5*time.Second + 500*time.Millisecond},
		{"capped at 12 hours", 72 * time.Hour, 12 * time.Hour, 12*time.Hour + time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newCallbackEnv(t, func(attempt int) activities.CallbackAttempt {
				if attempt == 1 {
					return activities.CallbackAttempt{StatusCode: http.StatusTooManyRequests, Outcome: activities.AttemptRetry, RetryAfter: tt.retryAfter}
				}
				return answer(http.StatusOK, activities.AttemptDelivered)
			})
			env.run(schedule)
			if err := env.GetWorkflowError(); err != nil {
				t.Fatal(err)
			}
			if len(env.attempts) != 2 {
				t.Fatalf("%d attempts, want 2", len(env.attempts))
			}
			if got := env.gaps()[0]; got < tt.wantMin || got > tt.wantMax {
				t.Fatalf("second attempt %s after the first, want between %s and %s", got, tt.wantMin, tt.wantMax)
			}
		})
	}
}

func TestRedeliverSignalCutsTheWaitShort(t *testing.T) {
	env := newCallbackEnv(t, func(attempt int) activities.CallbackAttempt {
		if attempt == 1 {
			return answer(http.StatusServiceUnavailable, activities.AttemptRetry)
		}
		return answer(http.StatusOK, activities.AttemptDelivered)
	})
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(workflows.RedeliverSignal, nil) }, time.Minute)
	env.run([]time.Duration{0, 10 * time.Hour})

	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if len(env.attempts) != 2 {
		t.Fatalf("%d attempts, want 2", len(env.attempts))
	}
	if got := env.gaps()[0]; got > 2*time.Minute {
		t.Fatalf("second attempt came %s after the first; the signal at 1 min did not cut the 10 h wait", got)
	}
}

// A signal sent while the files were still copying is answered by the first
// attempt; it must not also cut the wait before the second.
func TestEarlyRedeliverSignalDoesNotCutALaterWait(t *testing.T) {
	env := newCallbackEnv(t, func(attempt int) activities.CallbackAttempt {
		if attempt == 1 {
			return answer(http.StatusServiceUnavailable, activities.AttemptRetry)
		}
		return answer(http.StatusOK, activities.AttemptDelivered)
	})
	// Transfers that take ten minutes; the operator signals after one.
	env.transfersMocked = true
	env.OnActivity(a.TransferToGCS, mock.Anything, mock.Anything).After(10 * time.Minute).Return(
		func(_ context.Context, in activities.TransferInput) (activities.TransferResult, error) {
			return activities.TransferResult{Object: stored(in.Kind)}, nil
		})
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(workflows.RedeliverSignal, nil) }, time.Minute)
	env.run([]time.Duration{0, time.Hour})

	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if len(env.attempts) != 2 {
		t.Fatalf("%d attempts, want 2", len(env.attempts))
	}
	if got := env.gaps()[0]; got < time.Hour {
		t.Fatalf("second attempt came %s after the first; a stale signal cut the 1 h wait", got)
	}
}

func TestDeliveryFailureOfVideoFailedKeepsTheTransferReason(t *testing.T) {
	env := newCallbackEnv(t, func(int) activities.CallbackAttempt {
		return answer(http.StatusGone, activities.AttemptGone)
	})
	env.transfersMocked = true
	env.OnActivity(a.TransferToGCS, mock.Anything, mock.Anything).Return(
		activities.TransferResult{}, temporal.NewNonRetryableApplicationError("origin answered 404", string(contract.OriginNotFound), nil))
	env.run(workflows.DefaultCallbackSchedule)

	if got := failedWith(t, env.GetWorkflowError()); got != contract.OriginNotFound {
		t.Fatalf("workflow failed with %s, want %s: the transfer failure is the run's reason", got, contract.OriginNotFound)
	}
	if len(env.attempts) != 1 || env.attempts[0].in.Event.Type != contract.VideoFailed {
		t.Fatalf("attempts = %+v, want one video.failed attempt", env.attempts)
	}
	if want := []string{"pending", "gone"}; !slices.Equal(env.states, want) {
		t.Errorf("CallbackStatus upserts = %v, want %v", env.states, want)
	}
}

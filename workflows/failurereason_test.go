package workflows_test

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/temporal"

	"github.com/wochit-ingest/wochit-ingest/activities"
	"github.com/wochit-ingest/wochit-ingest/contract"
	"github.com/wochit-ingest/wochit-ingest/workflows"
)

// failureReasons records every FailureReason the workflow upserts.
func failureReasons(env *testEnv) *[]string {
	var got []string
	key := temporal.NewSearchAttributeKeyKeyword(workflows.SearchAttrFailureReason)
	env.OnUpsertTypedSearchAttributes(mock.Anything).Return(nil).Run(func(args mock.Arguments) {
		if v, ok := args.Get(0).(temporal.SearchAttributes).GetKeyword(key); ok {
			got = append(got, v)
		}
	})
	return &got
}

// A failed run is findable by its reason: the FailureReason search attribute
// carries the transfer's reason (`wochit-ingest list --reason`). Mutation:
// dropping the FailureReason update from operatorView.stage fails this test
// ("FailureReason upserts = []").
func TestFailedRunSetsFailureReason(t *testing.T) {
	env := newEnv(t)
	got := failureReasons(env)
	env.OnActivity(a.TransferToGCS, mock.Anything, mock.Anything).Return(
		func(ctx context.Context, in activities.TransferInput) (activities.TransferResult, error) {
			return activities.TransferResult{}, temporal.NewNonRetryableApplicationError("origin answered 404", string(contract.OriginNotFound), nil)
		})
	env.acceptCallbacks()
	env.ExecuteWorkflow(workflows.IngestVideo, sampleInput())
	assertFailedWith(t, env, contract.OriginNotFound)
	if len(*got) == 0 || (*got)[len(*got)-1] != string(contract.OriginNotFound) {
		t.Errorf("FailureReason upserts = %v, want it to end with %s", *got, contract.OriginNotFound)
	}
	var s workflows.Status
	if v, err := env.QueryWorkflow(workflows.StatusQuery); err != nil || v.Get(&s) != nil || s.Reason != contract.OriginNotFound {
		t.Errorf("status query Reason = %q (%v), want %s", s.Reason, err, contract.OriginNotFound)
	}
}

// When only the callback fails, the reason is the callback's.
func TestCallbackExhaustedSetsFailureReason(t *testing.T) {
	env := newEnv(t)
	got := failureReasons(env)
	env.OnActivity(a.TransferToGCS, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.TransferInput) (activities.TransferResult, error) {
			return activities.TransferResult{Object: stored(in.Kind)}, nil
		})
	env.OnActivity(a.DeliverCallback, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.CallbackInput) (activities.CallbackAttempt, error) {
			return activities.CallbackAttempt{Attempt: in.Attempt, StatusCode: http.StatusBadGateway, Outcome: activities.AttemptRetry, Error: "502"}, nil
		})
	in := sampleInput()
	in.CallbackSchedule = []time.Duration{0, time.Second}
	env.ExecuteWorkflow(workflows.IngestVideo, in)
	var appErr *temporal.ApplicationError
	if err := env.GetWorkflowError(); !errors.As(err, &appErr) || appErr.Type() != string(contract.CallbackExhausted) {
		t.Fatalf("workflow error = %v, want %s", err, contract.CallbackExhausted)
	}
	if len(*got) != 1 || (*got)[0] != string(contract.CallbackExhausted) {
		t.Errorf("FailureReason upserts = %v, want [%s]", *got, contract.CallbackExhausted)
	}
}

package workflows_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/wochit-ingest/wochit-ingest/activities"
	"github.com/wochit-ingest/wochit-ingest/contract"
	"github.com/wochit-ingest/wochit-ingest/internal/metrics"
	"github.com/wochit-ingest/wochit-ingest/workflows"
)

// counterValue sums the series of family name whose labels include want.
func counterValue(t *testing.T, reg *prometheus.Registry, name string, want map[string]string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	series:
		for _, m := range f.GetMetric() {
			for k, v := range want {
				if labelValue(m, k) != v {
					continue series
				}
			}
			sum += m.GetCounter().GetValue()
		}
	}
	return sum
}

func labelValue(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// metricsEnv is newEnv with the SDK's metrics handler exporting into reg
// (the worker's /metrics), and callbacks answered by answer.
func metricsEnv(t *testing.T, reg *prometheus.Registry, answer activities.CallbackAttempt) (*testEnv, func()) {
	handler, closer := metrics.SDKHandler(reg)
	var suite testsuite.WorkflowTestSuite
	suite.SetMetricsHandler(handler)
	env := &testEnv{TestWorkflowEnvironment: suite.NewTestWorkflowEnvironment(), infos: map[contract.AssetKind]activity.Info{}}
	env.SetStartTime(receivedAt.Add(time.Minute))
	env.RegisterActivity(a)
	env.OnActivity(a.Destination, mock.Anything, mock.Anything).Return(testDestination, nil)
	env.OnActivity(a.DeliverCallback, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.CallbackInput) (activities.CallbackAttempt, error) {
			res := answer
			res.Attempt = in.Attempt
			return res, nil
		})
	env.OnUpsertTypedSearchAttributes(mock.Anything).Return(nil)
	return env, func() {
		if err := closer.Close(); err != nil { // flushes the tally scope into reg
			t.Fatal(err)
		}
	}
}

// A run counts its transfers' outcome (with the failure reason) and its
// callback delivery's result once, through the SDK's metrics handler.
// Mutations: drop the countIngest calls in IngestVideo, or the countDelivery
// call in deliver's setState — the counts below read 0.
func TestRunsCountOutcomesAndCallbackResults(t *testing.T) {
	t.Run("stored and delivered", func(t *testing.T) {
		reg := prometheus.NewRegistry()
		env, flush := metricsEnv(t, reg, activities.CallbackAttempt{StatusCode: 204, Outcome: activities.AttemptDelivered})
		env.OnActivity(a.TransferToGCS, mock.Anything, mock.Anything).Return(
			func(_ context.Context, in activities.TransferInput) (activities.TransferResult, error) {
				return activities.TransferResult{Object: stored(in.Kind)}, nil
			})
		env.ExecuteWorkflow(workflows.IngestVideo, sampleInput())
		if err := env.GetWorkflowError(); err != nil {
			t.Fatal(err)
		}
		flush()
		if got := counterValue(t, reg, workflows.IngestsMetric, map[string]string{"outcome": "stored", "reason": "none"}); got != 1 {
			t.Errorf("%s{outcome=stored} = %v, want 1", workflows.IngestsMetric, got)
		}
		if got := counterValue(t, reg, workflows.CallbackDeliveriesMetric, map[string]string{"event": "stored", "result": "delivered"}); got != 1 {
			t.Errorf("%s{event=stored,result=delivered} = %v, want 1", workflows.CallbackDeliveriesMetric, got)
		}
	})
	t.Run("failed with its reason, callback exhausted", func(t *testing.T) {
		reg := prometheus.NewRegistry()
		env, flush := metricsEnv(t, reg, activities.CallbackAttempt{StatusCode: http.StatusServiceUnavailable, Outcome: activities.AttemptRetry})
		env.OnActivity(a.TransferToGCS, mock.Anything, mock.Anything).Return(
			func(_ context.Context, in activities.TransferInput) (activities.TransferResult, error) {
				if in.Kind == contract.KindThumbnail {
					return activities.TransferResult{Object: stored(in.Kind)}, nil
				}
				return activities.TransferResult{}, temporal.NewNonRetryableApplicationError("origin answered 404", string(contract.OriginNotFound), nil)
			})
		in := sampleInput()
		in.CallbackSchedule = []time.Duration{0, time.Minute}
		env.ExecuteWorkflow(workflows.IngestVideo, in)
		flush()
		if got := counterValue(t, reg, workflows.IngestsMetric, map[string]string{"outcome": "failed", "reason": string(contract.OriginNotFound)}); got != 1 {
			t.Errorf("%s{outcome=failed,reason=OriginNotFound} = %v, want 1", workflows.IngestsMetric, got)
		}
		if got := counterValue(t, reg, workflows.IngestsMetric, nil); got != 1 {
			t.Errorf("%s counted %v runs, want 1", workflows.IngestsMetric, got)
		}
		if got := counterValue(t, reg, workflows.CallbackDeliveriesMetric, map[string]string{"event": "failed", "result": "exhausted"}); got != 1 {
			t.Errorf("%s{event=failed,result=exhausted} = %v, want 1", workflows.CallbackDeliveriesMetric, got)
		}
		if got := counterValue(t, reg, workflows.CallbackDeliveriesMetric, nil); got != 1 {
			t.Errorf("%s counted %v deliveries, want 1 (no count for retrying)", workflows.CallbackDeliveriesMetric, got)
		}
	})
}

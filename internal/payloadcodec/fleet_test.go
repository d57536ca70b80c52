package payloadcodec

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
	"go.temporal.io/server/temporaltest"
)

// The phases of a rotation, as README and the package doc list them.
var rotationPhases = []string{
	"old:" + testKey(1),
	"old:" + testKey(1) + ",new:" + testKey(2) + ":decrypt-only",
	"old:" + testKey(1) + ":decrypt-only,new:" + testKey(2),
	"new:" + testKey(2),
}

func fleetCopy(ctx context.Context, in string) (string, error) {
	activity.RecordHeartbeat(ctx, "progress of "+in)
	return "copied " + in, nil
}

func fleetRefuse(_ context.Context, in string) error {
	return temporal.NewNonRetryableApplicationError("refused "+in, "Refused", nil)
}

// fleetWorkflow moves a value through every kind of payload a run carries:
// its input, an activity's input, heartbeat and result, a signal, a query,
// a failure message and its result.
func fleetWorkflow(ctx workflow.Context, activityQueue, in string) (string, error) {
	state := "started"
	if err := workflow.SetQueryHandler(ctx, "state", func() (string, error) { return state, nil }); err != nil {
		return "", err
	}
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		TaskQueue: activityQueue, StartToCloseTimeout: 10 * time.Second,
		RetryPolicy: &temporal.RetryPolicy{MaximumAttempts: 1},
	})
	var copied string
	if err := workflow.ExecuteActivity(ctx, fleetCopy, in).Get(ctx, &copied); err != nil {
		return "", err
	}
	state = "waiting for " + in
	var signal string
	workflow.GetSignalChannel(ctx, "go").Receive(ctx, &signal)
	err := workflow.ExecuteActivity(ctx, fleetRefuse, in).Get(ctx, nil)
	var refused *temporal.ApplicationError
	if !errors.As(err, &refused) {
		return "", fmt.Errorf("want the refusal, got %v", err)
	}
	return copied + "|" + signal + "|" + refused.Error(), nil
}

// fleet is a Temporal server and one client per keyring.
type fleet struct {
	t  *testing.T
	ts *temporaltest.TestServer
}

func (f fleet) client(keys string) client.Client {
	ring := mustRing(f.t, keys)
	return f.ts.NewClientWithOptions(client.Options{DataConverter: DataConverter(ring), FailureConverter: FailureConverter(ring)})
}

// worker polls queue with keys until the test ends.
func (f fleet) worker(keys, queue string) {
	w := worker.New(f.client(keys), queue, worker.Options{})
	w.RegisterWorkflow(fleetWorkflow)
	w.RegisterActivity(fleetCopy)
	w.RegisterActivity(fleetRefuse)
	if err := w.Start(); err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(w.Stop)
}

// A fleet running two neighbouring phases of a rotation at once — either
// list on the workflow worker, the activity worker, the starting client and
// the signalling one — decodes every payload the other writes: every run
// completes and no workflow task fails. The rollout README used to allow
// (the new key encrypting while a process still lacks it: phases 0 and 2
// together) is run too, and breaks, which shows the check can fail.
//
// Mutations: the codec encrypting with the last listed key (ignoring
// :decrypt-only) fails phases 0+1; the first listed key encrypting (the old
// rule) fails phases 2+3.
func TestMixedFleetDuringRotation(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: starts a Temporal server; run without -short")
	}
	t.Parallel()
	f := fleet{t: t, ts: temporaltest.NewServer(temporaltest.WithT(t))}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	for _, phases := range [][2]int{{0, 1}, {1, 2}, {2, 3}} {
		for _, order := range [][2]int{{phases[0], phases[1]}, {phases[1], phases[0]}} {
			name := fmt.Sprintf("phase-%d-workflows-phase-%d-activities", order[0], order[1])
			t.Run(name, func(t *testing.T) {
				if err := (fleet{t: t, ts: f.ts}).exercise(ctx, name, rotationPhases[order[0]], rotationPhases[order[1]]); err != nil {
					t.Fatal(err)
				}
			})
		}
	}

	t.Run("phases 0 and 2 together break", func(t *testing.T) {
		err := (fleet{t: t, ts: f.ts}).exercise(ctx, "phase-0-workflows-phase-2-activities", rotationPhases[0], rotationPhases[2])
		if err == nil {
			t.Fatal("a workflow worker without the new key read what a worker encrypting with it wrote")
		}
		t.Logf("as expected: %v", err)
	})
}

// exercise runs one run with a workflow worker holding wfKeys (which also
// starts it) and an activity worker holding actKeys (which also signals,
// queries and reads the result), and returns what went wrong, if anything.
func (f fleet) exercise(ctx context.Context, name, wfKeys, actKeys string) error {
	f.worker(wfKeys, name+"-workflows")
	f.worker(actKeys, name+"-activities")
	starter, other := f.client(wfKeys), f.client(actKeys)
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	run, err := starter.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: name, TaskQueue: name + "-workflows"},
		fleetWorkflow, name+"-activities", "https://media.example/v.mp4?X-Goog-Signature="+secretToken)
	if err != nil {
		return err
	}
	defer func() { _ = other.TerminateWorkflow(context.Background(), run.GetID(), run.GetRunID(), "test over") }()
	if err := waitForState(ctx, other, run, "waiting for "); err != nil {
		return fmt.Errorf("query through the other list: %v%s", err, failedTasks(f.t, other, run))
	}
	if err := other.SignalWorkflow(ctx, run.GetID(), run.GetRunID(), "go", "signalled"); err != nil {
		return err
	}
	var got string
	if err := other.GetWorkflow(ctx, run.GetID(), run.GetRunID()).Get(ctx, &got); err != nil {
		return fmt.Errorf("the run did not complete: %v%s", err, failedTasks(f.t, other, run))
	}
	if !strings.HasPrefix(got, "copied https://media.example/v.mp4") || !strings.Contains(got, "|signalled|refused ") {
		return fmt.Errorf("result %q", got)
	}
	if failed := failedTasks(f.t, other, run); failed != "" {
		return errors.New("completed after" + failed)
	}
	return nil
}

// waitForState polls the run's state query until it starts with prefix.
func waitForState(ctx context.Context, c client.Client, run client.WorkflowRun, prefix string) error {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	for {
		v, err := c.QueryWorkflow(ctx, run.GetID(), run.GetRunID(), "state")
		var state string
		if err == nil {
			err = v.Get(&state)
		}
		if err == nil && strings.HasPrefix(state, prefix) {
			return nil
		}
		if d, err := c.DescribeWorkflowExecution(ctx, run.GetID(), run.GetRunID()); err == nil && d.GetWorkflowExecutionInfo().GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
			failure := run.Get(ctx, nil)
			return fmt.Errorf("the run closed %v in state %q: %v", d.GetWorkflowExecutionInfo().GetStatus(), state, failure)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("state %q, %v", state, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// failedTasks describes the workflow tasks of run that failed ("" if none):
// a task that cannot decode a payload fails and is retried for ever.
func failedTasks(t *testing.T, c client.Client, run client.WorkflowRun) string {
	t.Helper()
	var failed []string
	it := c.GetWorkflowHistory(context.Background(), run.GetID(), run.GetRunID(), false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		if a := e.GetWorkflowTaskFailedEventAttributes(); a != nil {
			failed = append(failed, fmt.Sprintf("workflow task failed (%v)", a.GetCause()))
		}
	}
	if len(failed) == 0 {
		return ""
	}
	return "; " + strings.Join(failed, ", ")
}

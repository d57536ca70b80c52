package payloadcodec

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
	"go.temporal.io/server/temporaltest"
	"google.golang.org/protobuf/proto"
)

func echoActivity(_ context.Context, s string) (string, error) { return "copied " + s, nil }

// echoWorkflow passes its input through an activity (so the value appears
// in workflow input, activity input, activity result and workflow result),
// and fails with a message that quotes it when asked to.
func echoWorkflow(ctx workflow.Context, in string) (string, error) {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: 10 * time.Second})
	var out string
	if err := workflow.ExecuteActivity(ctx, echoActivity, in).Get(ctx, &out); err != nil {
		return "", err
	}
	if strings.HasPrefix(in, "fail:") {
		return "", temporal.NewNonRetryableApplicationError("fetching "+in+" failed", "OriginUnavailable", nil)
	}
	return out, nil
}

// The real thing: workflow history as the Temporal server stores it holds no
// signed-URL token, while a client with the codec reads the values back.
func TestTemporalHistoryIsEncrypted(t *testing.T) {
	t.Parallel()
	ring := mustRing(t, "2026-12:"+testKey(1))
	codecOpts := client.Options{DataConverter: DataConverter(ring), FailureConverter: FailureConverter(ring)}
	ts := temporaltest.NewServer(temporaltest.WithT(t), temporaltest.WithBaseClientOptions(codecOpts))
	codecClient := ts.GetDefaultClient()
	plainClient := ts.NewClientWithOptions(client.Options{}) // default converters, no keys

	const tq = "payloadcodec-test"
	ts.NewWorker(tq, func(r worker.Registry) {
		r.RegisterWorkflow(echoWorkflow)
		r.RegisterActivity(echoActivity)
	})

	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()

	url := "https://storage.googleapis.com/b/v.mp4?X-Goog-Expires=86400&X-Goog-Signature=" + secretToken
	for _, tc := range []struct {
		name, input string
		fails       bool
	}{
		{name: "completed", input: url},
		{name: "failed", input: "fail:" + url, fails: true},
	} {
		run, err := codecClient.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
			ID: "payloadcodec-" + tc.name, TaskQueue: tq, Memo: map[string]any{"source": tc.input},
		}, echoWorkflow, tc.input)
		if err != nil {
			t.Fatal(err)
		}
		var result string
		err = run.Get(ctx, &result)
		switch {
		case tc.fails:
			// The codec client decodes the encrypted failure message.
			var appErr *temporal.ApplicationError
			if !errors.As(err, &appErr) || !strings.Contains(appErr.Error(), secretToken) {
				t.Fatalf("%s: run.Get error = %v, want the decoded application error", tc.name, err)
			}
		case err != nil:
			t.Fatalf("%s: %v", tc.name, err)
		case result != "copied "+url:
			t.Fatalf("%s: result %q", tc.name, result)
		}

		// Raw history, straight from the WorkflowService, without the codec.
		events := rawHistory(ctx, t, plainClient, ts.GetDefaultNamespace(), run.GetID(), run.GetRunID())
		var started *historypb.WorkflowExecutionStartedEventAttributes
		for _, e := range events {
			b, err := proto.Marshal(e)
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Contains(b, []byte(secretToken)) || bytes.Contains(b, []byte("X-Goog-Signature")) {
				t.Errorf("%s: history event %d (%v) contains the token in clear", tc.name, e.GetEventId(), e.GetEventType())
			}
			if a := e.GetWorkflowExecutionStartedEventAttributes(); a != nil {
				started = a
			}
			if f := e.GetWorkflowExecutionFailedEventAttributes().GetFailure(); f != nil && f.GetMessage() != "Encoded failure" {
				t.Errorf("%s: failure message %q, want it encoded", tc.name, f.GetMessage())
			}
		}
		if started == nil {
			t.Fatalf("%s: no WorkflowExecutionStarted event in %d events", tc.name, len(events))
		}
		in := started.GetInput().GetPayloads()
		if len(in) != 1 || string(in[0].GetMetadata()[MetadataEncoding]) != EncodingEncrypted ||
			string(in[0].GetMetadata()[MetadataKeyID]) != "2026-12" {
			t.Fatalf("%s: started input payloads %v, want one binary/encrypted payload with key 2026-12", tc.name, in)
		}

		// Without the keys the input cannot be read...
		var s string
		if err := converter.GetDefaultDataConverter().FromPayloads(started.GetInput(), &s); err == nil {
			t.Errorf("%s: the default data converter decoded an encrypted input to %q", tc.name, s)
		}
		// ...with them it can.
		if err := DataConverter(ring).FromPayloads(started.GetInput(), &s); err != nil || s != tc.input {
			t.Errorf("%s: decoded input = %q, %v; want %q", tc.name, s, err, tc.input)
		}
		var memo string
		if err := DataConverter(ring).FromPayload(started.GetMemo().GetFields()["source"], &memo); err != nil || memo != tc.input {
			t.Errorf("%s: decoded memo = %q, %v", tc.name, memo, err)
		}
	}
}

func rawHistory(ctx context.Context, t *testing.T, c client.Client, ns, id, runID string) []*historypb.HistoryEvent {
	t.Helper()
	var events []*historypb.HistoryEvent
	var token []byte
	for {
		resp, err := c.WorkflowService().GetWorkflowExecutionHistory(ctx, &workflowservice.GetWorkflowExecutionHistoryRequest{
			Namespace:              ns,
			Execution:              &commonpb.WorkflowExecution{WorkflowId: id, RunId: runID},
			NextPageToken:          token,
			HistoryEventFilterType: enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT,
		})
		if err != nil {
			t.Fatal(fmt.Errorf("GetWorkflowExecutionHistory: %w", err))
		}
		events = append(events, resp.GetHistory().GetEvents()...)
		if token = resp.GetNextPageToken(); len(token) == 0 {
			return events
		}
	}
}

package workflows_test

import (
	"testing"

	"github.com/wochit-ingest/wochit-ingest/contract"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/converter"

	"github.com/wochit-ingest/wochit-ingest/workflows"
)

// The start request carries what makes a start exactly-once per video (the
// id and its two policies) and what the Web UI shows (memo and summary).
// StartIngest's behaviour against a server is tested through the ingress
// (ingress/server_test.go) and redelivery end to end (devstack).
func TestStartRequest(t *testing.T) {
	in := workflows.IngestInput{Notification: contract.Notification{
		WochitVideoID: "vid-1", VideoContext: "user-42", Title: "The title",
		VideoURL: "https://media.example.com/v.mp4", ThumbnailURL: "https://media.example.com/t.jpg",
	}}
	req, err := workflows.StartRequest(workflows.StartOptions{Namespace: "ns", Identity: "test"}, in)
	if err != nil {
		t.Fatal(err)
	}
	if req.GetWorkflowId() != "wochit-video-vid-1" || req.GetNamespace() != "ns" || req.GetIdentity() != "test" ||
		req.GetWorkflowType().GetName() != workflows.IngestVideoName || req.GetTaskQueue().GetName() != workflows.TaskQueue {
		t.Fatalf("request = %v", req)
	}
	if req.GetWorkflowIdReusePolicy() != enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE_FAILED_ONLY ||
		req.GetWorkflowIdConflictPolicy() != enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING {
		t.Fatalf("id policies = %v / %v", req.GetWorkflowIdReusePolicy(), req.GetWorkflowIdConflictPolicy())
	}
	dc := converter.GetDefaultDataConverter()
	var got workflows.IngestInput
	var title, summary string
	if err := dc.FromPayloads(req.GetInput(), &got); err != nil || got.Notification != in.Notification {
		t.Fatalf("input = %+v, %v", got, err)
	}
	if err := dc.FromPayload(req.GetMemo().GetFields()[workflows.MemoTitle], &title); err != nil || title != "The title" {
		t.Fatalf("memo title = %q, %v", title, err)
	}
	if err := dc.FromPayload(req.GetUserMetadata().GetSummary(), &summary); err != nil || summary != workflows.StaticSummary(in.Notification) {
		t.Fatalf("summary = %q, %v", summary, err)
	}
	again, err := workflows.StartRequest(workflows.StartOptions{Namespace: "ns"}, in)
	if err != nil || again.GetRequestId() == "" || again.GetRequestId() == req.GetRequestId() {
		t.Fatalf("request ids %q and %q: each start needs its own", req.GetRequestId(), again.GetRequestId())
	}
}

func TestConflictErrorNamesTheRun(t *testing.T) {
	err := &workflows.ConflictError{WorkflowID: "wochit-video-v1", RunID: "r1"}
	if got := err.Error(); got != "wochit-video-v1 (run r1) was started by a different notification for the same wochitVideoId" {
		t.Fatalf("Error() = %q", got)
	}
}

package operate_test

import (
	"strings"
	"testing"
	"time"

	"github.com/wochit-ingest/wochit-ingest/contract"
	"github.com/wochit-ingest/wochit-ingest/operate"
	"github.com/wochit-ingest/wochit-ingest/workflows"
)

// Each filter is one condition of the visibility query; a value the
// workflow never sets is refused with the values it does set, and a quote in
// a videoContext cannot end the literal. Mutation: dropping quote's escaping
// makes the context case fail.
func TestFilterQuery(t *testing.T) {
	since := time.Date(2026, 12, 5, 14, 0, 0, 0, time.UTC)
	q, err := operate.Filter{
		Failed: true, Reason: contract.CallbackExhausted, Stage: workflows.StageFailed, Callback: workflows.CallbackExhausted,
		Since: since, Until: since.Add(time.Hour), Context: `it's`,
	}.Query()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"WorkflowType = 'IngestVideo'", "ExecutionStatus != 'Running' AND ExecutionStatus != 'Completed'",
		"FailureReason = 'CallbackExhausted'", "IngestStage = 'failed'", "CallbackStatus = 'exhausted'",
		"StartTime >= '2026-12-05T14:00:00Z'", "StartTime < '2026-12-05T15:00:00Z'", `VideoContext = 'it\'s'`,
	} {
		if !strings.Contains(q, want) {
			t.Errorf("query %s lacks %s", q, want)
		}
	}
	for _, bad := range []operate.Filter{
		{Reason: "Nope"}, {Stage: "nope"}, {Callback: "nope"}, {Since: since, Until: since},
	} {
		if _, err := bad.Query(); err == nil {
			t.Errorf("%+v: no error", bad)
		}
	}
}

package workflows

import (
	"github.com/wochit-ingest/wochit-ingest/activities"
	"github.com/wochit-ingest/wochit-ingest/contract"
	"go.temporal.io/sdk/workflow"
)

// Series the workflow emits through the SDK's metrics handler, which drops
// them while a history is replayed: each run counts once, whichever worker
// replays it later. On /metrics they carry the SDK's namespace, task_queue
// and workflow_type labels besides their own (all from fixed sets).
const (
	// IngestsMetric counts runs whose transfers ended, by outcome (stored,
	// failed, cancelled) and reason ("none", or one of contract.Reasons).
	IngestsMetric = "wochit_ingests_total"
	// CallbackDeliveriesMetric counts callback deliveries that ended, by
	// event (stored, failed) and result (delivered, gone, rejected,
	// exhausted).
	CallbackDeliveriesMetric = "wochit_callback_deliveries_total"
)

// Outcomes of a run's transfers (the "outcome" label of IngestsMetric).
const (
	ingestStored    = "stored"
	ingestFailed    = "failed"
	ingestCancelled = "cancelled"
)

func countIngest(ctx workflow.Context, outcome string, reason contract.Reason) {
	r := "none"
	if reason != "" {
		r = string(reason)
	}
	workflow.GetMetricsHandler(ctx).WithTags(map[string]string{"outcome": outcome, "reason": r}).
		Counter(IngestsMetric).Inc(1)
}

func countDelivery(ctx workflow.Context, event contract.EventType, result CallbackState) {
	workflow.GetMetricsHandler(ctx).WithTags(map[string]string{"event": activities.EventLabel(event), "result": string(result)}).
		Counter(CallbackDeliveriesMetric).Inc(1)
}

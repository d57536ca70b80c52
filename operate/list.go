package operate

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/wochit-ingest/wochit-ingest/contract"
	"github.com/wochit-ingest/wochit-ingest/workflows"
)

// Filter selects runs; the zero Filter selects every ingest. Each field is
// one condition of a visibility query over the workflow's search attributes.
type Filter struct {
	// Failed: runs that ended without success (failed, cancelled,
	// terminated, timed out).
	Failed bool
	// Reason: runs whose FailureReason is this contract.Reason (set by the
	// workflow when it fails; runs that failed before the attribute existed
	// do not have it).
	Reason contract.Reason
	// Stage: runs at this IngestStage.
	Stage workflows.Stage
	// Callback: runs whose CallbackStatus is this state, e.g. exhausted.
	Callback workflows.CallbackState
	// Since and Until bound the run's start time (when the notification
	// was accepted), inclusive and exclusive.
	Since, Until time.Time
	// Context: runs of this videoContext.
	Context string
	// AllRuns keeps runs a later run of the same video replaced (a failed
	// run a redelivery re-ran); by default only each video's latest run is
	// listed.
	AllRuns bool
}

// Stages and CallbackStates are the values --stage and --callback take.
var (
	Stages         = []workflows.Stage{workflows.StageTransferring, workflows.StageCallingBack, workflows.StageCompleted, workflows.StageFailed}
	CallbackStates = []workflows.CallbackState{workflows.CallbackPending, workflows.CallbackRetrying, workflows.CallbackDelivered,
		workflows.CallbackGone, workflows.CallbackRejected, workflows.CallbackExhausted}
)

// Query is the filter as a Temporal visibility query, or an error naming a
// value the filter does not know.
func (f Filter) Query() (string, error) {
	conds := []string{fmt.Sprintf("WorkflowType = %s", quote(workflows.IngestVideoName))}
	if f.Failed {
		conds = append(conds, "ExecutionStatus != 'Running' AND ExecutionStatus != 'Completed'")
	}
	if f.Reason != "" {
		if !f.Reason.Known() {
			return "", fmt.Errorf("unknown failure reason %q; one of %s", f.Reason, strings.Join(contract.Names(contract.Reasons...), ", "))
		}
		conds = append(conds, fmt.Sprintf("%s = %s", workflows.SearchAttrFailureReason, quote(string(f.Reason))))
	}
	if f.Stage != "" {
		if !slices.Contains(Stages, f.Stage) {
			return "", fmt.Errorf("unknown stage %q; one of %s", f.Stage, joinStrings(Stages))
		}
		conds = append(conds, fmt.Sprintf("%s = %s", workflows.SearchAttrIngestStage, quote(string(f.Stage))))
	}
	if f.Callback != "" {
		if !slices.Contains(CallbackStates, f.Callback) {
			return "", fmt.Errorf("unknown callback state %q; one of %s", f.Callback, joinStrings(CallbackStates))
		}
		conds = append(conds, fmt.Sprintf("%s = %s", workflows.SearchAttrCallbackStatus, quote(string(f.Callback))))
	}
	if !f.Since.IsZero() {
		conds = append(conds, fmt.Sprintf("StartTime >= %s", quote(f.Since.UTC().Format(time.RFC3339Nano))))
	}
	if !f.Until.IsZero() {
		conds = append(conds, fmt.Sprintf("StartTime < %s", quote(f.Until.UTC().Format(time.RFC3339Nano))))
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && !f.Until.After(f.Since) {
		return "", fmt.Errorf("--until (%s) is not after --since (%s)", stamp(f.Until), stamp(f.Since))
	}
	if f.Context != "" {
		conds = append(conds, fmt.Sprintf("%s = %s", workflows.SearchAttrVideoContext, quote(workflows.SearchKeyword(f.Context))))
	}
	return strings.Join(conds, " AND "), nil
}

// quote writes s as a visibility query string literal.
func quote(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

func joinStrings[S ~string](values []S) string {
	s := make([]string, len(values))
	for i, v := range values {
		s[i] = string(v)
	}
	return strings.Join(s, ", ")
}

// Run is one listed run: what its search attributes say.
type Run struct {
	WochitVideoID  string
	WorkflowID     string
	RunID          string
	Status         string
	Stage          workflows.Stage         `json:",omitempty"`
	Callback       workflows.CallbackState `json:",omitempty"`
	Reason         contract.Reason         `json:",omitempty"`
	VideoContext   string                  `json:",omitempty"`
	StartedAt      time.Time
	ClosedAt       time.Time `json:",omitzero"`
	SupersededByID string    `json:",omitempty"` // the later run of the same video (AllRuns)
}

// List returns the runs the filter selects, newest first, at most limit of
// them (0: no limit).
func List(ctx context.Context, c client.Client, opts Options, f Filter, limit int) ([]Run, error) {
	query, err := f.Query()
	if err != nil {
		return nil, err
	}
	infos, err := listQuery(ctx, c, opts.Namespace, query, 0)
	if err != nil {
		return nil, err
	}
	// Each video's latest run, among all its runs: a run another replaced
	// is history, not something to act on.
	latest := map[string]*workflowpb.WorkflowExecutionInfo{}
	var ids []string
	for _, info := range infos {
		id := info.GetExecution().GetWorkflowId()
		if _, seen := latest[id]; !seen {
			ids = append(ids, id)
			latest[id] = nil
		}
	}
	for chunk := range slices.Chunk(ids, 100) {
		quoted := make([]string, len(chunk))
		for i, id := range chunk {
			quoted[i] = quote(id)
		}
		all, err := listQuery(ctx, c, opts.Namespace, fmt.Sprintf("WorkflowId IN (%s)", strings.Join(quoted, ", ")), 0)
		if err != nil {
			return nil, err
		}
		for _, info := range all {
			id := info.GetExecution().GetWorkflowId()
			if cur := latest[id]; cur == nil || info.GetStartTime().AsTime().After(cur.GetStartTime().AsTime()) {
				latest[id] = info
			}
		}
	}
	var runs []Run
	for _, info := range infos {
		run := runOf(info)
		if l := latest[run.WorkflowID]; l != nil && l.GetExecution().GetRunId() != run.RunID {
			if !f.AllRuns {
				continue
			}
			run.SupersededByID = l.GetExecution().GetRunId()
		}
		runs = append(runs, run)
	}
	slices.SortStableFunc(runs, func(a, b Run) int { return b.StartedAt.Compare(a.StartedAt) })
	if limit > 0 && len(runs) > limit {
		runs = runs[:limit]
	}
	return runs, nil
}

func listQuery(ctx context.Context, c client.Client, namespace, query string, limit int) ([]*workflowpb.WorkflowExecutionInfo, error) {
	var out []*workflowpb.WorkflowExecutionInfo
	var page []byte
	for {
		resp, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Namespace: namespace, Query: query, NextPageToken: page, PageSize: 1000})
		if err != nil {
			return nil, fmt.Errorf("listing runs (%s): %w", query, err)
		}
		out = append(out, resp.GetExecutions()...)
		if page = resp.GetNextPageToken(); len(page) == 0 || (limit > 0 && len(out) >= limit) {
			return out, nil
		}
	}
}

func runOf(info *workflowpb.WorkflowExecutionInfo) Run {
	sa := info.GetSearchAttributes()
	r := Run{
		WorkflowID: info.GetExecution().GetWorkflowId(), RunID: info.GetExecution().GetRunId(),
		WochitVideoID: keyword(sa, workflows.SearchAttrWochitVideoID),
		Status:        statusName(info.GetStatus()),
		Stage:         workflows.Stage(keyword(sa, workflows.SearchAttrIngestStage)),
		Callback:      workflows.CallbackState(keyword(sa, workflows.SearchAttrCallbackStatus)),
		Reason:        contract.Reason(keyword(sa, workflows.SearchAttrFailureReason)),
		VideoContext:  keyword(sa, workflows.SearchAttrVideoContext),
		StartedAt:     info.GetStartTime().AsTime(),
	}
	if r.WochitVideoID == "" {
		r.WochitVideoID = strings.TrimPrefix(r.WorkflowID, workflows.WorkflowIDPrefix)
	}
	if info.GetCloseTime() != nil {
		r.ClosedAt = info.GetCloseTime().AsTime()
	}
	return r
}

// WriteList writes the runs as a table.
func WriteList(w io.Writer, runs []Run) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "VIDEO\tSTATUS\tSTAGE\tCALLBACK\tREASON\tSTARTED\tCONTEXT")
	for _, r := range runs {
		status := r.Status
		if r.SupersededByID != "" {
			status += " (re-run)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.WochitVideoID, status, cmpOr(string(r.Stage), "-"), cmpOr(string(r.Callback), "-"),
			cmpOr(string(r.Reason), "-"), stamp(r.StartedAt), cmpOr(r.VideoContext, "-"))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "%d run(s)\n", len(runs))
	return err
}

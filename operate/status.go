package operate

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	failurepb "go.temporal.io/api/failure/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/wochit-ingest/wochit-ingest/activities"
	"github.com/wochit-ingest/wochit-ingest/contract"
	"github.com/wochit-ingest/wochit-ingest/workflows"
)

// Report is a run as `wochit-ingest status` shows it.
type Report struct {
	WochitVideoID string
	WorkflowID    string
	RunID         string
	Title         string
	VideoContext  string
	// Status is Temporal's: Running, Completed, Failed, Canceled,
	// Terminated, TimedOut.
	Status     string
	Stage      workflows.Stage `json:",omitempty"`
	ReceivedAt time.Time
	StartedAt  time.Time
	ClosedAt   time.Time `json:",omitzero"`
	Deadlines  workflows.Deadlines
	Video      File
	Thumbnail  File
	Callback   Callback
	// Reason and Failure say why the run failed.
	Reason  contract.Reason `json:",omitempty"`
	Failure string          `json:",omitempty"`
}

// File is one file's transfer: its stored object once stored, its progress
// while it is copied, and the last failed attempt's error.
type File struct {
	Kind     contract.AssetKind
	Stored   *contract.StoredObject `json:",omitempty"`
	Reused   bool                   `json:",omitempty"`
	Progress *Progress              `json:",omitempty"`
	// Attempt is the current attempt while the transfer is pending.
	Attempt     int    `json:",omitempty"`
	LastFailure string `json:",omitempty"`
}

// Progress is a pending transfer's last heartbeat.
type Progress struct {
	Bytes int64
	Total int64 // -1 while unknown
	Parts int   `json:",omitempty"`
	Of    int64 `json:",omitempty"` // parts planned
}

// Callback is the run's delivery: every attempt with its time and answer.
type Callback struct {
	EventType     contract.EventType      `json:",omitempty"`
	WebhookID     string                  `json:",omitempty"`
	State         workflows.CallbackState `json:",omitempty"`
	Attempts      []activities.CallbackAttempt
	NextAttemptAt time.Time `json:",omitzero"`
}

// Status reads the latest run of a video from its history and its
// description, decrypting with opts' keys: no worker needs to be running.
// Errors: *UnknownVideoError, *KeyError.
func Status(ctx context.Context, c client.Client, opts Options, wochitVideoID string) (Report, error) {
	runID, err := latestRun(ctx, c, opts, wochitVideoID)
	if err != nil {
		return Report{}, err
	}
	workflowID := workflows.WorkflowID(wochitVideoID)
	in, err := CheckKeys(ctx, c, opts, workflowID, runID)
	if err != nil {
		return Report{}, err
	}
	r := Report{
		WochitVideoID: wochitVideoID, WorkflowID: workflowID, RunID: runID,
		Title: in.Notification.Title, VideoContext: in.Notification.VideoContext,
		ReceivedAt: in.ReceivedAt, Deadlines: workflows.DeadlinesFor(in),
		Video: File{Kind: contract.KindVideo}, Thumbnail: File{Kind: contract.KindThumbnail},
	}
	if err := r.readHistory(ctx, c, opts, runID); err != nil {
		return r, err
	}
	desc, err := c.DescribeWorkflowExecution(ctx, workflowID, runID)
	if err != nil {
		return r, fmt.Errorf("describing %s: %w", workflowID, err)
	}
	info := desc.GetWorkflowExecutionInfo()
	r.Status = statusName(info.GetStatus())
	r.StartedAt = info.GetStartTime().AsTime()
	if info.GetCloseTime() != nil {
		r.ClosedAt = info.GetCloseTime().AsTime()
	}
	r.Stage = workflows.Stage(keyword(info.GetSearchAttributes(), workflows.SearchAttrIngestStage))
	r.Callback.State = workflows.CallbackState(keyword(info.GetSearchAttributes(), workflows.SearchAttrCallbackStatus))
	if r.Reason == "" {
		r.Reason = contract.Reason(keyword(info.GetSearchAttributes(), workflows.SearchAttrFailureReason))
	}
	dc := opts.dc()
	for _, pa := range desc.GetPendingActivities() {
		if pa.GetActivityType().GetName() != "TransferToGCS" {
			continue
		}
		var p activities.TransferProgress
		if hb := pa.GetHeartbeatDetails(); hb != nil {
			if err := dc.FromPayloads(hb, &p); err != nil {
				return r, opts.keyError(err)
			}
		}
		f := r.file(p.Kind)
		if f == nil {
			continue // no heartbeat yet: the kind is unknown (it shows as pending below)
		}
		f.Attempt = int(pa.GetAttempt())
		f.Progress = &Progress{Bytes: p.Bytes, Total: p.Total, Parts: len(p.Parts)}
		if p.PartSize > 0 && p.Total > 0 {
			f.Progress.Of = (p.Total + p.PartSize - 1) / p.PartSize
		}
		if lf := pa.GetLastFailure(); lf != nil {
			f.LastFailure = failureText(dc, lf)
		}
	}
	return r, nil
}

func (r *Report) file(kind contract.AssetKind) *File {
	switch kind {
	case contract.KindVideo:
		return &r.Video
	case contract.KindThumbnail:
		return &r.Thumbnail
	}
	return nil
}

// scheduled is what an ActivityTaskScheduled event said.
type scheduled struct {
	activity string
	kind     contract.AssetKind // transfers
	attempt  int                // callbacks
	event    contract.EventType // callbacks
}

// readHistory fills the files, the callback attempts and the outcome from
// the run's events.
func (r *Report) readHistory(ctx context.Context, c client.Client, opts Options, runID string) error {
	dc := opts.dc()
	byID := map[int64]scheduled{}
	var timerStarted *historypb.HistoryEvent
	var page []byte
	for {
		resp, err := c.WorkflowService().GetWorkflowExecutionHistory(ctx, &workflowservice.GetWorkflowExecutionHistoryRequest{
			Namespace: opts.Namespace, Execution: execution(r.WorkflowID, runID), NextPageToken: page,
		})
		if err != nil {
			return fmt.Errorf("reading the history of %s: %w", r.WorkflowID, err)
		}
		for _, ev := range resp.GetHistory().GetEvents() {
			if err := r.event(dc, ev, byID, &timerStarted); err != nil {
				return opts.keyError(err)
			}
		}
		if page = resp.GetNextPageToken(); len(page) == 0 {
			break
		}
	}
	if timerStarted != nil && r.Callback.EventType != "" {
		a := timerStarted.GetTimerStartedEventAttributes()
		r.Callback.NextAttemptAt = timerStarted.GetEventTime().AsTime().Add(a.GetStartToFireTimeout().AsDuration())
	}
	return nil
}

func (r *Report) event(dc converter.DataConverter, ev *historypb.HistoryEvent, byID map[int64]scheduled, timer **historypb.HistoryEvent) error {
	switch ev.GetEventType() {
	case enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
		a := ev.GetActivityTaskScheduledEventAttributes()
		s := scheduled{activity: a.GetActivityType().GetName()}
		switch s.activity {
		case "TransferToGCS":
			var in activities.TransferInput
			if err := dc.FromPayloads(a.GetInput(), &in); err != nil {
				return err
			}
			s.kind = in.Kind
		case "DeliverCallback":
			var in activities.CallbackInput
			if err := dc.FromPayloads(a.GetInput(), &in); err != nil {
				return err
			}
			s.attempt, s.event = in.Attempt, in.Event.Type
			if r.Callback.EventType != in.Event.Type {
				r.Callback = Callback{EventType: in.Event.Type, WebhookID: in.WebhookID}
			}
		}
		byID[ev.GetEventId()] = s
	case enumspb.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
		a := ev.GetActivityTaskCompletedEventAttributes()
		s := byID[a.GetScheduledEventId()]
		switch s.activity {
		case "TransferToGCS":
			var res activities.TransferResult
			if err := dc.FromPayloads(a.GetResult(), &res); err != nil {
				return err
			}
			if f := r.file(s.kind); f != nil {
				obj := res.Object
				f.Stored, f.Reused, f.LastFailure = &obj, res.Reused, ""
			}
		case "DeliverCallback":
			var res activities.CallbackAttempt
			if err := dc.FromPayloads(a.GetResult(), &res); err != nil {
				return err
			}
			r.Callback.Attempts = append(r.Callback.Attempts, res)
		}
	case enumspb.EVENT_TYPE_ACTIVITY_TASK_FAILED, enumspb.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT:
		var schedID int64
		var failure *failurepb.Failure
		if a := ev.GetActivityTaskFailedEventAttributes(); a != nil {
			schedID, failure = a.GetScheduledEventId(), a.GetFailure()
		} else {
			a := ev.GetActivityTaskTimedOutEventAttributes()
			schedID, failure = a.GetScheduledEventId(), a.GetFailure()
		}
		s := byID[schedID]
		switch s.activity {
		case "TransferToGCS":
			if f := r.file(s.kind); f != nil {
				f.LastFailure = failureText(dc, failure)
			}
		case "DeliverCallback":
			// The workflow counts an attempt that did not report back as a
			// failed one (deliver).
			r.Callback.Attempts = append(r.Callback.Attempts, activities.CallbackAttempt{
				Attempt: s.attempt, At: ev.GetEventTime().AsTime(), Outcome: activities.AttemptRetry, Error: failureText(dc, failure),
			})
		}
	case enumspb.EVENT_TYPE_TIMER_STARTED:
		*timer = ev
	case enumspb.EVENT_TYPE_TIMER_FIRED, enumspb.EVENT_TYPE_TIMER_CANCELED:
		*timer = nil
	case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED:
		var res workflows.IngestResult
		if err := dc.FromPayloads(ev.GetWorkflowExecutionCompletedEventAttributes().GetResult(), &res); err != nil {
			return err
		}
		r.Video.Stored, r.Thumbnail.Stored = &res.Video, &res.Thumbnail
		r.Callback.EventType, r.Callback.WebhookID, r.Callback.Attempts = res.Callback.EventType, res.Callback.WebhookID, res.Callback.Attempts
		*timer = nil
	case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED:
		f := ev.GetWorkflowExecutionFailedEventAttributes().GetFailure()
		if t := f.GetApplicationFailureInfo().GetType(); t != "" {
			r.Reason = contract.Reason(t)
		}
		r.Failure = failureText(dc, f)
		*timer = nil
	case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED:
		r.Reason, r.Failure = contract.Cancelled, "the run was cancelled"
		*timer = nil
	case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED:
		r.Failure = "terminated: " + ev.GetWorkflowExecutionTerminatedEventAttributes().GetReason()
		*timer = nil
	case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT:
		r.Failure = "timed out"
		*timer = nil
	}
	return nil
}

// failureText is a failure's message decrypted (failure messages are
// encrypted with the payloads, payloadcodec.FailureConverter), with its
// type when it has one.
func failureText(dc converter.DataConverter, f *failurepb.Failure) string {
	if f == nil {
		return ""
	}
	f = cloneFailure(f)
	converter.DecodeCommonFailureAttributes(dc, f)
	msg := f.GetMessage()
	// The innermost cause says what happened; the outer ones are the SDK's
	// wrappers ("activity error").
	for cause := f.GetCause(); cause != nil; cause = cause.GetCause() {
		converter.DecodeCommonFailureAttributes(dc, cause)
		if cause.GetMessage() != "" {
			msg = cause.GetMessage()
			if t := cause.GetApplicationFailureInfo().GetType(); t != "" {
				msg = t + ": " + msg
			}
		}
	}
	if f.GetCause() == nil {
		if t := f.GetApplicationFailureInfo().GetType(); t != "" && !strings.HasPrefix(msg, t) {
			msg = t + ": " + msg
		}
	}
	return msg
}

func statusName(s enumspb.WorkflowExecutionStatus) string {
	switch s {
	case enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING:
		return "Running"
	case enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED:
		return "Completed"
	case enumspb.WORKFLOW_EXECUTION_STATUS_FAILED:
		return "Failed"
	case enumspb.WORKFLOW_EXECUTION_STATUS_CANCELED:
		return "Canceled"
	case enumspb.WORKFLOW_EXECUTION_STATUS_TERMINATED:
		return "Terminated"
	case enumspb.WORKFLOW_EXECUTION_STATUS_TIMED_OUT:
		return "TimedOut"
	case enumspb.WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW:
		return "ContinuedAsNew"
	}
	return s.String()
}

// WriteJSON writes v as indented JSON (the --json output).
func WriteJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// WriteStatus writes the report for a person.
func WriteStatus(w io.Writer, r Report) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	line := func(k, format string, a ...any) { fmt.Fprintf(tw, "%s\t%s\n", k, fmt.Sprintf(format, a...)) }
	line("video", "%s  “%s”  context %s", r.WochitVideoID, r.Title, r.VideoContext)
	line("run", "%s  %s", r.WorkflowID, r.RunID)
	stage := r.Status
	if r.Stage != "" {
		stage += " (stage " + string(r.Stage) + ")"
	}
	line("status", "%s", stage)
	if r.Reason != "" || r.Failure != "" {
		line("failure", "%s", strings.TrimPrefix(r.Failure, string(r.Reason)+": "))
		line("reason", "%s", r.Reason)
	}
	line("received", "%s", stamp(r.ReceivedAt))
	if !r.ClosedAt.IsZero() {
		line("closed", "%s", stamp(r.ClosedAt))
	}
	line("deadlines", "video %s, thumbnail %s", stamp(r.Deadlines.Video), stamp(r.Deadlines.Thumbnail))
	for _, f := range []File{r.Video, r.Thumbnail} {
		line(string(f.Kind), "%s", fileLine(f))
	}
	cb := r.Callback
	switch {
	case cb.EventType == "":
		line("callback", "not sent yet")
	default:
		line("callback", "%s %s (webhook-id %s, %d attempt(s))", cb.EventType, cmpOr(string(cb.State), "pending"), cb.WebhookID, len(cb.Attempts))
	}
	for _, a := range cb.Attempts {
		line(fmt.Sprintf("  attempt %d", a.Attempt), "%s  %s", stamp(a.At), attemptAnswer(a))
	}
	if !cb.NextAttemptAt.IsZero() {
		line("  next attempt", "%s", stamp(cb.NextAttemptAt))
	}
	return tw.Flush()
}

func fileLine(f File) string {
	switch {
	case f.Stored != nil && f.Stored.URI != "":
		s := fmt.Sprintf("stored %s  %d bytes  %s  crc32c %s", f.Stored.URI, f.Stored.Size, f.Stored.ContentType, f.Stored.CRC32C)
		if f.Stored.MD5 != "" {
			s += "  md5 " + f.Stored.MD5
		}
		if f.Reused {
			s += "  (reused an earlier copy)"
		}
		return s
	case f.Progress != nil:
		s := fmt.Sprintf("copying, attempt %d: %s", f.Attempt, progressText(*f.Progress))
		if f.LastFailure != "" {
			s += "; last attempt failed: " + f.LastFailure
		}
		return s
	case f.LastFailure != "":
		return "not stored; last attempt failed: " + f.LastFailure
	}
	return "not stored"
}

func progressText(p Progress) string {
	const mib = 1 << 20
	if p.Total <= 0 {
		return fmt.Sprintf("%d bytes (%.1f MiB) so far", p.Bytes, float64(p.Bytes)/mib)
	}
	s := fmt.Sprintf("%d / %d bytes (%d%%)", p.Bytes, p.Total, p.Bytes*100/p.Total)
	if p.Of > 0 {
		s += fmt.Sprintf(", %d of %d parts", p.Parts, p.Of)
	}
	return s
}

// attemptAnswer is how the endpoint answered one attempt, and what the
// workflow made of it (delivered, retry, gone, rejected).
func attemptAnswer(a activities.CallbackAttempt) string {
	s := "no HTTP answer"
	if a.StatusCode != 0 {
		s = fmt.Sprintf("HTTP %d", a.StatusCode)
	}
	if a.Latency >= time.Millisecond {
		s += fmt.Sprintf(" after %s", a.Latency.Round(time.Millisecond))
	}
	s += " → " + string(a.Outcome)
	if a.RetryAfter > 0 {
		s += fmt.Sprintf(" (Retry-After %s)", a.RetryAfter)
	}
	if a.Error != "" {
		s += ": " + a.Error
	}
	return s
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

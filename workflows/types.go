// Package workflows holds the IngestVideo workflow and the types the ingress
// and the worker share: the notification, the workflow's input and result,
// task queue names and the workflow id scheme.
package workflows

import (
	"fmt"
	"time"

	"github.com/wochit-ingest/wochit-ingest/contract"

	"go.temporal.io/sdk/temporal"

	"github.com/wochit-ingest/wochit-ingest/activities"
)

// Task queues. Video transfers are heavy (long, memory-bound) and get their
// own queue so that a burst of large videos cannot starve workflow tasks,
// thumbnails and callbacks, and so platform teams can scale them separately.
const (
	TaskQueue      = "wochit-ingest"       // workflow tasks, thumbnails, callbacks
	VideoTaskQueue = "wochit-ingest-video" // video transfers
)

// IngestVideoName is the registered workflow type name of IngestVideo.
const IngestVideoName = "IngestVideo"

// WorkflowIDPrefix + wochitVideoId is the workflow id: one workflow per video.
const WorkflowIDPrefix = "wochit-video-"

// WorkflowID returns the id of the workflow that ingests a video.
func WorkflowID(wochitVideoID string) string { return WorkflowIDPrefix + wochitVideoID }

// IngestInput starts an IngestVideo workflow.
type IngestInput struct {
	Notification contract.Notification
	// ReceivedAt is when the ingress accepted the notification: Wochit's links
	// expire 24 hours after it was sent, and the deadline counts from here.
	ReceivedAt time.Time
	// CallbackSchedule is the wait before each callback attempt, from the
	// ingress's CALLBACK_SCHEDULE; empty means DefaultCallbackSchedule. It is
	// part of the input so a run keeps its schedule across deployments and a
	// redelivery reuses it.
	CallbackSchedule []time.Duration `json:",omitempty"`
}

// IngestResult is what a completed workflow returns.
type IngestResult struct {
	Video     contract.StoredObject
	Thumbnail contract.StoredObject
	Deadlines Deadlines
	Callback  CallbackReport
}

// Deadlines are the last moments a transfer attempt may start, per file:
// the link's expiry (24 h after the notification, or earlier when the signed
// URL says so) minus DeadlineSafetyMargin.
type Deadlines struct {
	Video     time.Time
	Thumbnail time.Time
}

// Stage is where an ingest is; the status query and the Web UI show it.
type Stage string

const (
	StageTransferring Stage = "transferring"
	StageCallingBack  Stage = "calling-back"
	StageCompleted    Stage = "completed"
	StageFailed       Stage = "failed"
)

// StatusQuery is the name of the query that returns a Status.
const StatusQuery = "status"

// Status is the answer to the status query.
type Status struct {
	Stage       Stage
	Deadlines   Deadlines
	Destination activities.Destination
	Video       *contract.StoredObject `json:",omitempty"`
	Thumbnail   *contract.StoredObject `json:",omitempty"`
	Failure     string                 `json:",omitempty"`
	// Reason is the contract.Reason of Failure.
	Reason   contract.Reason `json:",omitempty"`
	Callback CallbackReport
}

// RedeliverSignal cuts the wait before the next callback attempt short.
const RedeliverSignal = "redeliver"

// Custom search attributes (all Keyword) that make runs findable in the Web
// UI. `dev` registers them; on other clusters run `wochit-ingest setup`.
const (
	SearchAttrWochitVideoID  = "WochitVideoId"
	SearchAttrVideoContext   = "VideoContext"
	SearchAttrIngestStage    = "IngestStage"
	SearchAttrCallbackStatus = "CallbackStatus"
	// SearchAttrFailureReason is the contract.Reason a run failed with, set
	// when it fails (the transfer's reason, or the callback's when only the
	// callback failed). Runs that failed before it existed do not have it.
	SearchAttrFailureReason = "FailureReason"
)

// SearchAttributes lists the search attributes IngestVideo sets; all are
// Keyword.
var SearchAttributes = []string{SearchAttrWochitVideoID, SearchAttrVideoContext, SearchAttrIngestStage, SearchAttrCallbackStatus, SearchAttrFailureReason}

var (
	wochitVideoIDKey = temporal.NewSearchAttributeKeyKeyword(SearchAttrWochitVideoID)
	videoContextKey  = temporal.NewSearchAttributeKeyKeyword(SearchAttrVideoContext)
	ingestStageKey   = temporal.NewSearchAttributeKeyKeyword(SearchAttrIngestStage)
	failureReasonKey = temporal.NewSearchAttributeKeyKeyword(SearchAttrFailureReason)
)

// Memo keys: the title, and the full videoContext (its search attribute
// may be shortened, see SearchKeyword).
const (
	MemoTitle        = "title"
	MemoVideoContext = "videoContext"
)

// StaticSummary is the run's one-line summary in the Web UI, fitted to
// Temporal's summary limit whatever the title.
func StaticSummary(n contract.Notification) string {
	title := n.Title
	if title == "" {
		title = "untitled"
	}
	id := fmt.Sprintf(" (%s)", n.WochitVideoID)
	return "Ingest “" + FitJSON(title, MaxSummaryBytes-len(id)-24) + "”" + id
}

// Command capturehistories runs IngestVideo through its main scenarios on a
// throwaway dev stack and writes each run's event history to
// workflows/testdata/histories/, where TestReplayCommittedHistories replays
// them against the current workflow code. Run it from the repository root
// after a deliberate change to the workflow (see README, "Changing a
// workflow safely"), naming the scenarios to capture (all when none is
// named; histories already committed are better kept, as they are what
// runs started by older code look like):
//
//	go run ./devstack/capturehistories [scenario...]
//
// incomplete-media takes about 14 minutes (the workflow's backoff until the
// file has been unfinished for 10 minutes); the others run alongside it.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/temporalproto"
	"go.temporal.io/sdk/client"

	"github.com/wochit-ingest/wochit-ingest/contract"
	"github.com/wochit-ingest/wochit-ingest/devstack"
	"github.com/wochit-ingest/wochit-ingest/devstack/mediaorigin"
	"github.com/wochit-ingest/wochit-ingest/internal/webhook"
	"github.com/wochit-ingest/wochit-ingest/workflows"
)

const outDir = "workflows/testdata/histories"

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "capturehistories:", err)
		os.Exit(1)
	}
}

// receiver answers each video's callbacks with the statuses queued for it,
// then 204.
type receiver struct {
	mu       sync.Mutex
	statuses map[string][]int
}

func (r *receiver) queue(wochitVideoID string, statuses ...int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.statuses[wochitVideoID] = append(r.statuses[wochitVideoID], statuses...)
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	var ev contract.Event
	_ = json.NewDecoder(req.Body).Decode(&ev)
	r.mu.Lock()
	status := http.StatusNoContent
	if q := r.statuses[ev.Data.WochitVideoID]; len(q) > 0 {
		status, r.statuses[ev.Data.WochitVideoID] = q[0], q[1:]
	}
	r.mu.Unlock()
	w.WriteHeader(status)
}

// capture is what a scenario has to work with.
type capture struct {
	stack  *devstack.Stack
	origin *mediaorigin.Origin
	url    string // the origin's
	recv   *receiver
}

// scenario runs one video id through a branch of the workflow and returns
// once the run to save has closed.
type scenario struct {
	name string
	id   string
	run  func(c capture, id string) error
}

var scenarios = []scenario{
	{"happy-path", "history-1", func(c capture, id string) error { return c.post(id, "/v.mp4", "") }},
	{"transfer-failure", "history-2", func(c capture, id string) error { return c.post(id, "/missing.mp4", "") }},
	{"callback-retry", "history-3", func(c capture, id string) error {
		c.recv.queue(id, 503, 503)
		return c.post(id, "/v.mp4", "")
	}},
	// The first run's callback is rejected; the redelivered notification
	// starts a second run, which reuses the stored files (captured).
	{"duplicate-after-failure", "history-4", func(c capture, id string) error {
		c.recv.queue(id, 400)
		if err := c.post(id, "/v.mp4", ""); err != nil {
			return err
		}
		return c.post(id, "/v.mp4", "")
	}},
	// Cancelled while the video is being copied: the run tells the backend
	// (video.failed, Cancelled) and ends cancelled.
	{"cancelled", "history-cancelled", func(c capture, id string) error {
		c.origin.Put("/slow.mp4", mediaorigin.File{Body: mediaorigin.Video("cancelled", 4<<20), ContentType: "video/mp4", BytesPerSecond: 64 << 10})
		if err := c.send(id, "/slow.mp4", ""); err != nil {
			return err
		}
		if err := waitFor(func() bool { return c.origin.Stats("/slow.mp4").BytesSent > 0 }); err != nil {
			return fmt.Errorf("the video transfer never started: %w", err)
		}
		if err := c.stack.Client.CancelWorkflow(context.Background(), workflows.WorkflowID(id), ""); err != nil {
			return err
		}
		return c.wait(id, enumspb.WORKFLOW_EXECUTION_STATUS_CANCELED)
	}},
	// The first callback attempt fails and the run sleeps an hour before the
	// next; the redeliver signal cuts the sleep short (a TimerCanceled).
	{"redeliver-mid-sleep", "history-redeliver", func(c capture, id string) error {
		c.recv.queue(id, 503)
		in := c.input(id, "/v.mp4", "")
		in.CallbackSchedule = []time.Duration{0, time.Hour}
		if err := c.start(in); err != nil {
			return err
		}
		if err := waitFor(func() bool { return c.status(id).Callback.NextAttemptAt.After(time.Now()) }); err != nil {
			return fmt.Errorf("the run never slept before its second callback attempt: %w", err)
		}
		if _, err := workflows.Redeliver(context.Background(), c.stack.Client, workflows.RedeliverOptions{
			Namespace: devstack.Namespace, DataConverter: c.stack.DataConverter}, id); err != nil {
			return err
		}
		if err := c.wait(id, enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED); err != nil {
			return err
		}
		return c.expect(id, enumspb.EVENT_TYPE_TIMER_CANCELED, "the signal did not cut the sleep short")
	}},
	// A run started after the links expired (a redelivery a day later) only
	// looks for the files an earlier run stored: the first run stores both
	// and its callback is rejected; the second, received 25 hours ago, reuses
	// them without contacting the origin.
	{"reuse-only", "history-reuse-only", func(c capture, id string) error {
		c.recv.queue(id, 400)
		if err := c.post(id, "/v.mp4", ""); err != nil {
			return err
		}
		in := c.input(id, "/v.mp4", "")
		in.ReceivedAt = time.Now().Add(-25 * time.Hour)
		if err := c.start(in); err != nil {
			return err
		}
		if err := c.wait(id, enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED); err != nil {
			return err
		}
		if queues := c.activityQueues(id); slices.Contains(queues, workflows.VideoTaskQueue) {
			return fmt.Errorf("the second run copied the video (task queues %v); want a reuse-only run", queues)
		}
		return nil
	}},
	// The origin serves an MP4 its encoder has not finished: IncompleteMedia,
	// retried until it has been unfinished for 10 minutes, then final.
	{"incomplete-media", "history-incomplete", func(c capture, id string) error {
		c.origin.Put("/unfinished.mp4", mediaorigin.File{Body: mediaorigin.UnfinishedVideo("incomplete", 256<<10), ContentType: "video/mp4"})
		if err := c.send(id, "/unfinished.mp4", ""); err != nil {
			return err
		}
		if err := c.waitLong(id, enumspb.WORKFLOW_EXECUTION_STATUS_FAILED, 20*time.Minute); err != nil {
			return err
		}
		return c.expectFailed(id, contract.IncompleteMedia)
	}},
	// The video's signed URL expires 10 minutes and 25 s after the
	// notification, so its deadline is 25 s away, and the origin sends it
	// too slowly to finish by then: the attempt in flight at the deadline
	// times out (DeadlineExceeded). (An origin that fails instead ends with
	// its own error: Temporal schedules no retry past the deadline.)
	{"deadline", "history-deadline", func(c capture, id string) error {
		c.origin.Put("/trickle.mp4", mediaorigin.File{Body: mediaorigin.Video("deadline", 1<<20), ContentType: "video/mp4", BytesPerSecond: 8 << 10})
		expires := time.Now().Add(workflows.DeadlineSafetyMargin + 25*time.Second).Unix()
		if err := c.post(id, "/trickle.mp4", fmt.Sprintf("&Expires=%d", expires)); err != nil {
			return err
		}
		return c.expectFailed(id, contract.DeadlineExceeded)
	}},
}

func run(names []string) error {
	if _, err := os.Stat(outDir); err != nil {
		return fmt.Errorf("run me from the repository root (%s not found)", outDir)
	}
	chosen := scenarios
	if len(names) > 0 {
		chosen = nil
		for _, n := range names {
			i := slices.IndexFunc(scenarios, func(s scenario) bool { return s.name == n })
			if i < 0 {
				return fmt.Errorf("no scenario %q", n)
			}
			chosen = append(chosen, scenarios[i])
		}
	}
	dir, err := os.MkdirTemp("", "capturehistories")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	origin := mediaorigin.New()
	originServer := httptest.NewServer(origin)
	defer originServer.Close()
	origin.Put("/v.mp4", mediaorigin.File{Body: mediaorigin.Video("history", 300<<10), ContentType: "video/mp4"})
	origin.Put("/t.png", mediaorigin.File{Body: mediaorigin.Thumbnail("history", 16, 16), ContentType: "image/png"})
	recv := &receiver{statuses: map[string][]int{}}
	callbacks := httptest.NewServer(recv)
	defer callbacks.Close()

	secrets, err := webhook.ParseSecrets("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD")
	if err != nil {
		return err
	}
	// Payloads are encrypted as every deployment's are, with the replay
	// test's key (committed; it protects nothing).
	keys, err := os.ReadFile(filepath.Join(outDir, "payload-keys"))
	if err != nil {
		return err
	}
	stack, err := devstack.Start(context.Background(), devstack.Options{
		DataDir:      dir,
		PayloadKeys:  strings.TrimSpace(string(keys)),
		TemporalAddr: "127.0.0.1:0", GCSAddr: "127.0.0.1:0", IngressAddr: "127.0.0.1:0", DevAddr: "127.0.0.1:0",
		CallbackURL: callbacks.URL, CallbackSecrets: secrets,
		CallbackSchedule: []time.Duration{0, time.Second, time.Second},
		Logger:           slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		return err
	}
	defer stack.Stop(context.Background())
	c := capture{stack: stack, origin: origin, url: originServer.URL, recv: recv}

	// Every scenario runs at once (incomplete-media takes minutes); each
	// has its own video id, origin paths and callback answers.
	errs := make([]error, len(chosen))
	var wg sync.WaitGroup
	for i, sc := range chosen {
		wg.Go(func() {
			if err := sc.run(c, sc.id); err != nil {
				errs[i] = fmt.Errorf("%s: %w", sc.name, err)
				return
			}
			if err := save(stack.Client, workflows.WorkflowID(sc.id), filepath.Join(outDir, sc.name+".json")); err != nil {
				errs[i] = fmt.Errorf("%s: %w", sc.name, err)
				return
			}
			fmt.Println("captured", sc.name)
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// input is the notification of id as the ingress would start it, its video
// at videoPath on the origin (with query appended).
func (c capture) input(id, videoPath, query string) workflows.IngestInput {
	return workflows.IngestInput{
		Notification: contract.Notification{
			VideoContext: "user-1", WochitVideoID: id, Title: "Captured history",
			// Signed-URL-like tokens: the histories must not show them.
			VideoURL:     c.url + videoPath + "?X-Goog-Signature=capturedtoken" + query,
			ThumbnailURL: c.url + "/t.png?X-Goog-Signature=capturedtoken",
		},
		ReceivedAt:       time.Now().UTC(),
		CallbackSchedule: []time.Duration{0, time.Second, time.Second},
	}
}

// send posts id's notification to the ingress.
func (c capture) send(id, videoPath, query string) error {
	n := c.input(id, videoPath, query).Notification
	body, _ := json.Marshal(n)
	resp, err := http.Post(c.stack.IngressURL+"/webhooks/wochit", "application/json", bytes.NewReader(body))
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		return fmt.Errorf("ingress answered %d, want 202", resp.StatusCode)
	}
	return nil
}

// post sends id's notification and waits for its run to close.
func (c capture) post(id, videoPath, query string) error {
	if err := c.send(id, videoPath, query); err != nil {
		return err
	}
	return c.wait(id, enumspb.WORKFLOW_EXECUTION_STATUS_UNSPECIFIED)
}

// start starts a run with in as the ingress does, for inputs the ingress
// would not make (a schedule of its own, a notification received long ago).
func (c capture) start(in workflows.IngestInput) error {
	_, started, err := workflows.StartIngest(context.Background(), c.stack.Client, workflows.StartOptions{
		Namespace: devstack.Namespace, DataConverter: c.stack.DataConverter, Identity: "capturehistories"}, in)
	if err == nil && !started {
		err = errors.New("a run was already open")
	}
	return err
}

func (c capture) wait(id string, want enumspb.WorkflowExecutionStatus) error {
	return c.waitLong(id, want, 2*time.Minute)
}

// waitLong waits until the latest run of id has closed with want (any
// status when unspecified).
func (c capture) waitLong(id string, want enumspb.WorkflowExecutionStatus, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for {
		desc, err := c.stack.Client.DescribeWorkflowExecution(ctx, workflows.WorkflowID(id), "")
		if status := desc.GetWorkflowExecutionInfo().GetStatus(); err == nil && status != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
			if want != enumspb.WORKFLOW_EXECUTION_STATUS_UNSPECIFIED && status != want {
				return fmt.Errorf("the run closed %v, want %v", status, want)
			}
			return nil
		}
		select {
		case <-ctx.Done():
			return errors.New("the run did not close in time")
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// status is the latest run's answer to the status query.
func (c capture) status(id string) workflows.Status {
	var st workflows.Status
	if v, err := c.stack.Client.QueryWorkflow(context.Background(), workflows.WorkflowID(id), "", workflows.StatusQuery); err == nil {
		_ = v.Get(&st)
	}
	return st
}

// expectFailed waits for the run to fail and checks that its video.failed
// callback named reason (the status query keeps it).
func (c capture) expectFailed(id string, reason contract.Reason) error {
	if err := c.wait(id, enumspb.WORKFLOW_EXECUTION_STATUS_FAILED); err != nil {
		return err
	}
	if got := c.status(id).Failure; !strings.HasPrefix(got, string(reason)+":") {
		return fmt.Errorf("the run failed with %q, want %s", got, reason)
	}
	return nil
}

// history is the latest run's history.
func (c capture) history(id string) []*historypb.HistoryEvent {
	var events []*historypb.HistoryEvent
	it := c.stack.Client.GetWorkflowHistory(context.Background(), workflows.WorkflowID(id), "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			return events
		}
		events = append(events, ev)
	}
	return events
}

// expect fails with msg unless the latest run's history holds an event of typ.
func (c capture) expect(id string, typ enumspb.EventType, msg string) error {
	if !slices.ContainsFunc(c.history(id), func(e *historypb.HistoryEvent) bool { return e.GetEventType() == typ }) {
		return errors.New(msg)
	}
	return nil
}

// activityQueues lists the task queues the latest run scheduled activities on.
func (c capture) activityQueues(id string) []string {
	var queues []string
	for _, e := range c.history(id) {
		if a := e.GetActivityTaskScheduledEventAttributes(); a != nil {
			queues = append(queues, a.GetTaskQueue().GetName())
		}
	}
	return queues
}

func waitFor(cond func() bool) error {
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			return errors.New("timed out")
		}
		time.Sleep(50 * time.Millisecond)
	}
	return nil
}

// save writes the latest run's history in the JSON format the SDK's
// replayer reads.
func save(c client.Client, workflowID, path string) error {
	var h historypb.History
	it := c.GetWorkflowHistory(context.Background(), workflowID, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			return err
		}
		h.Events = append(h.Events, ev)
	}
	b, err := temporalproto.CustomJSONMarshalOptions{Indent: "  "}.Marshal(&h)
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

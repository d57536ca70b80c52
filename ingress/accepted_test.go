package ingress

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/wochit-ingest/wochit-ingest/contract"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/wochit-ingest/wochit-ingest/activities"
	"github.com/wochit-ingest/wochit-ingest/workflows"
)

// extremeNotifications are the widest notifications the door accepts: every
// field at its length limit, in the widest UTF-8 (4-byte emoji), in the
// characters JSON escapes to 6 bytes ('<', '&', U+2028) and in control
// characters. They seed FuzzAcceptedNotificationEndsInOneCallback and are
// posted through a real Temporal server by devstack's end-to-end test.
func extremeNotifications(videoURL, thumbnailURL func(pad string) string) map[string]contract.Notification {
	id := strings.Repeat("Az09-_", 22)[:MaxVideoIDLen]
	widest := func(unit string, n int) string { return strings.Repeat(unit, n) }
	out := map[string]contract.Notification{}
	for name, unit := range map[string]string{"emoji": "😀", "escaped": "<&\u2028>", "control": "\x00\x01\t\n\x7f"} {
		runes := utf8.RuneCountInString(unit)
		out[name] = contract.Notification{
			WochitVideoID: id[:MaxVideoIDLen-len(name)-1] + "-" + name,
			VideoContext:  widest(unit, MaxVideoContextLen/runes) + strings.Repeat("x", MaxVideoContextLen%runes),
			Title:         widest(unit, MaxTitleLen/runes) + strings.Repeat("x", MaxTitleLen%runes),
			VideoURL:      videoURL(name),
			ThumbnailURL:  thumbnailURL(name),
		}
	}
	return out
}

// maxLengthURL pads a URL's query to exactly MaxURLLen characters with
// percent-encoded bytes (the signed-URL tokens of real links look like this).
func maxLengthURL(base string) string {
	u := base + "?token="
	for len(u)+3 <= MaxURLLen {
		u += "%3C"
	}
	return u + strings.Repeat("a", MaxURLLen-len(u))
}

// FuzzAcceptedNotificationEndsInOneCallback is the door's promise as a
// property: every notification the decoder accepts can be started (its
// start request fits Temporal's limits) and its workflow reaches a terminal
// state having sent exactly one callback, carrying the notification as
// sent, whether the transfers succeed or fail. The search attributes the
// workflow sets are checked against the limits of every visibility store
// (the test environment does not enforce them; a real server terminates the
// run). The seeds run in every `go test`; `go test -run '^$' -fuzz
// FuzzAcceptedNotificationEndsInOneCallback ./ingress` explores further.
func FuzzAcceptedNotificationEndsInOneCallback(f *testing.F) {
	media := func(path string) func(string) string {
		return func(string) string { return maxLengthURL("https://media.example.com/" + path) }
	}
	for _, n := range extremeNotifications(media("v.mp4"), media("t.jpg")) {
		body, _ := json.Marshal(n)
		f.Add(body, false)
		f.Add(body, true)
	}
	f.Add([]byte(`{"videoContext":"user-42","wochitVideoId":"v1","thumbnailUrl":"https://media.example.com/t.jpg","videoUrl":"https://media.example.com/v.mp4","title":""}`), false)
	receivedAt := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

	f.Fuzz(func(t *testing.T, body []byte, transfersFail bool) {
		n, _, apiErr := decodeNotification(bytes.NewReader(body), urlRules{}, receivedAt)
		if apiErr != nil {
			return
		}
		in := workflows.IngestInput{Notification: n, ReceivedAt: receivedAt}
		checkStartRequest(t, in)

		events := runIngest(t, in, transfersFail)
		if len(events) != 1 {
			t.Fatalf("%d callbacks, want exactly 1", len(events))
		}
		ev := events[0]
		wantType := contract.VideoStored
		if transfersFail {
			wantType = contract.VideoFailed
		}
		if ev.Type != wantType || ev.Data.WochitVideoID != n.WochitVideoID || ev.Data.VideoContext != n.VideoContext || ev.Data.Title != n.Title {
			t.Fatalf("callback %s for %q (context %d bytes, title %d bytes), want %s carrying the notification as sent",
				ev.Type, ev.Data.WochitVideoID, len(ev.Data.VideoContext), len(ev.Data.Title), wantType)
		}
	})
}

// checkStartRequest fails unless the start request for in fits Temporal's
// limits: the summary (limit.userMetadataSummarySize, 400 bytes), the memo
// and the input (limit.blobSize.error, 2 MiB).
func checkStartRequest(t *testing.T, in workflows.IngestInput) {
	t.Helper()
	req, err := workflows.StartRequest(workflows.StartOptions{Namespace: "default"}, in)
	if err != nil {
		t.Fatalf("no start request: %v", err)
	}
	if n := req.GetUserMetadata().GetSummary().Size(); n > 400 {
		t.Fatalf("summary payload is %d bytes; Temporal allows 400", n)
	}
	if n := req.GetMemo().Size() + req.GetInput().Size(); n > 2<<20 {
		t.Fatalf("memo and input are %d bytes; Temporal allows 2 MiB per event", n)
	}
	var title, context string
	dc := converter.GetDefaultDataConverter()
	if dc.FromPayload(req.GetMemo().GetFields()[workflows.MemoTitle], &title) != nil || title != in.Notification.Title ||
		dc.FromPayload(req.GetMemo().GetFields()[workflows.MemoVideoContext], &context) != nil || context != in.Notification.VideoContext {
		t.Fatal("the memo does not hold the title and the full videoContext")
	}
}

// runIngest runs IngestVideo in the SDK's test environment with stand-in
// activities and returns the events it sent.
func runIngest(t *testing.T, in workflows.IngestInput, transfersFail bool) []contract.Event {
	t.Helper()
	var a *activities.Activities
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestWorkflowEnvironment()
	env.SetStartTime(in.ReceivedAt.Add(time.Second))
	env.RegisterActivity(a)
	env.OnActivity(a.Destination, mock.Anything, mock.Anything).Return(activities.Destination{Bucket: "b", Dir: "videos/" + in.Notification.WochitVideoID + "/"}, nil)
	env.OnActivity(a.TransferToGCS, mock.Anything, mock.Anything).Return(
		func(_ context.Context, ti activities.TransferInput) (activities.TransferResult, error) {
			if transfersFail {
				return activities.TransferResult{}, temporal.NewNonRetryableApplicationError("origin answered 404", string(contract.OriginNotFound), nil)
			}
			name := "videos/" + ti.WochitVideoID + "/" + string(ti.Kind)
			return activities.TransferResult{Object: contract.StoredObject{Bucket: "b", Name: name, URI: "gs://b/" + name, Size: 1, CRC32C: "AAAAAA=="}}, nil
		})
	var mu sync.Mutex
	var events []contract.Event
	env.OnActivity(a.DeliverCallback, mock.Anything, mock.Anything).Return(
		func(_ context.Context, ci activities.CallbackInput) (activities.CallbackAttempt, error) {
			mu.Lock()
			events = append(events, ci.Event)
			mu.Unlock()
			return activities.CallbackAttempt{Attempt: ci.Attempt, StatusCode: 204, Outcome: activities.AttemptDelivered}, nil
		})
	var saErr error
	env.OnUpsertTypedSearchAttributes(mock.Anything).Run(func(args mock.Arguments) {
		for key, v := range args.Get(0).(temporal.SearchAttributes).GetUntypedValues() {
			if err := checkSearchAttribute(key.GetName(), v); err != nil && saErr == nil {
				saErr = err
			}
		}
	}).Return(nil)

	env.ExecuteWorkflow(workflows.IngestVideo, in)
	if !env.IsWorkflowCompleted() {
		t.Fatal("the workflow did not reach a terminal state")
	}
	if saErr != nil {
		t.Fatal(saErr)
	}
	if err := env.GetWorkflowError(); (err != nil) != transfersFail {
		t.Fatalf("workflow error = %v, want failure: %v", err, transfersFail)
	}
	return events
}

// checkSearchAttribute applies the limits a real server and its visibility
// store enforce on a Keyword value.
func checkSearchAttribute(name string, v any) error {
	s, ok := v.(string)
	if !ok {
		return nil
	}
	p, err := converter.GetDefaultDataConverter().ToPayload(s)
	if err != nil {
		return err
	}
	switch {
	case len(p.GetData()) > workflows.MaxSearchAttributeValueBytes:
		return fmt.Errorf("search attribute %s is %d bytes; the frontend allows %d", name, len(p.GetData()), workflows.MaxSearchAttributeValueBytes)
	case utf8.RuneCountInString(s) > workflows.MaxKeywordRunes:
		return fmt.Errorf("search attribute %s is %d characters; SQL visibility stores hold %d", name, utf8.RuneCountInString(s), workflows.MaxKeywordRunes)
	case strings.ContainsRune(s, 0):
		return fmt.Errorf("search attribute %s holds NUL, which PostgreSQL's JSON refuses", name)
	}
	return nil
}

// The property above is only as good as its seeds: the extremes must be
// notifications the door accepts, at the limits it documents.
func TestExtremeNotificationsAreAccepted(t *testing.T) {
	media := func(path string) func(string) string {
		return func(string) string { return maxLengthURL("https://media.example.com/" + path) }
	}
	for name, n := range extremeNotifications(media("v.mp4"), media("t.jpg")) {
		body, _ := json.Marshal(n)
		got, _, apiErr := decodeNotification(bytes.NewReader(body), urlRules{}, time.Now())
		if apiErr != nil {
			t.Fatalf("%s: refused: %v", name, apiErr)
		}
		if utf8.RuneCountInString(got.VideoContext) != MaxVideoContextLen || utf8.RuneCountInString(got.Title) != MaxTitleLen ||
			len(got.WochitVideoID) != MaxVideoIDLen || len(got.VideoURL) != MaxURLLen || len(got.ThumbnailURL) != MaxURLLen {
			t.Fatalf("%s: not at every limit: context %d, title %d, id %d, URLs %d/%d", name, utf8.RuneCountInString(got.VideoContext),
				utf8.RuneCountInString(got.Title), len(got.WochitVideoID), len(got.VideoURL), len(got.ThumbnailURL))
		}
	}
}

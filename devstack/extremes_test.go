package devstack_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/wochit-ingest/wochit-ingest/contract"

	"github.com/wochit-ingest/wochit-ingest/devstack/devstacktest"
	"github.com/wochit-ingest/wochit-ingest/devstack/mediaorigin"
	"github.com/wochit-ingest/wochit-ingest/ingress"
	"github.com/wochit-ingest/wochit-ingest/workflows"
)

// The widest notifications the README allows — every field at its length
// limit, in 4-byte emoji, in characters JSON escapes to 6 bytes, in control
// characters — go through a real Temporal server, which enforces its own
// limits (a search attribute value over 2 KiB gets the run terminated in its
// first workflow task). Each must end stored with exactly one callback that
// carries the notification as sent.
func TestWidestNotificationsCompleteWithOneCallback(t *testing.T) {
	devstacktest.EndToEnd(t)
	origin := mediaorigin.New()
	originServer := httptest.NewServer(origin)
	defer originServer.Close()
	recv := devstacktest.NewReceiver(t)
	stack := startStack(t, t.TempDir(), randomAddrs(), recv.URL)
	defer stack.Stop(context.Background())

	// A query padded with percent-encoded bytes to the URL length limit, as
	// real signed-URL tokens are.
	maxURL := func(path string) string {
		u := originServer.URL + path + "?token="
		for len(u)+3 <= ingress.MaxURLLen {
			u += "%3C"
		}
		return u + strings.Repeat("a", ingress.MaxURLLen-len(u))
	}
	fill := func(unit string, chars int) string {
		n := utf8.RuneCountInString(unit)
		return strings.Repeat(unit, chars/n) + strings.Repeat("x", chars%n)
	}
	started := map[string]map[string]string{}
	sent := map[string]map[string]string{}
	for _, unit := range []string{"😀", "<&\u2028>", "\x00\x01\t\n\x7f\"\\"} {
		id := fmt.Sprintf("%x", unit)
		id = strings.Repeat(id, ingress.MaxVideoIDLen/len(id)+1)[:ingress.MaxVideoIDLen]
		origin.Put("/v/"+id[:8]+".mp4", mediaorigin.File{Body: mediaorigin.Video(id, 64<<10), ContentType: "video/mp4"})
		origin.Put("/t/"+id[:8]+".png", mediaorigin.File{Body: mediaorigin.Thumbnail(id, 16, 9), ContentType: "image/png"})
		n := map[string]string{
			"wochitVideoId": id,
			"videoContext":  fill(unit, ingress.MaxVideoContextLen),
			"title":         fill(unit, ingress.MaxTitleLen),
			"videoUrl":      maxURL("/v/" + id[:8] + ".mp4"),
			"thumbnailUrl":  maxURL("/t/" + id[:8] + ".png"),
		}
		sent[id], started[id] = n, postNotification(t, stack.IngressURL, n)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for id, s := range started {
		var res workflows.IngestResult
		if err := stack.Client.GetWorkflow(ctx, s["workflowId"], s["runId"]).Get(ctx, &res); err != nil {
			t.Fatalf("%.16s…: the run did not complete: %v", id, err)
		}
		// The search attribute fits the stores; the memo keeps the whole value.
		desc, err := stack.Client.DescribeWorkflowExecution(ctx, s["workflowId"], s["runId"])
		if err != nil {
			t.Fatal(err)
		}
		dc := stack.DataConverter
		var keyword, memo string
		_ = dc.FromPayload(desc.GetWorkflowExecutionInfo().GetSearchAttributes().GetIndexedFields()[workflows.SearchAttrVideoContext], &keyword)
		_ = dc.FromPayload(desc.GetWorkflowExecutionInfo().GetMemo().GetFields()[workflows.MemoVideoContext], &memo)
		if keyword != workflows.SearchKeyword(sent[id]["videoContext"]) || memo != sent[id]["videoContext"] {
			t.Fatalf("%.16s…: VideoContext attribute %.30q…, memo of %d bytes; want the fitted keyword and the whole value", id, keyword, len(memo))
		}
	}
	byVideo := map[string][]contract.Event{}
	for _, d := range recv.All() {
		byVideo[d.Event.Data.WochitVideoID] = append(byVideo[d.Event.Data.WochitVideoID], d.Event)
	}
	for id, n := range sent {
		evs := byVideo[id]
		if len(evs) != 1 {
			t.Fatalf("%.16s…: %d callbacks, want exactly 1", id, len(evs))
		}
		d := evs[0].Data
		if evs[0].Type != contract.VideoStored || d.VideoContext != n["videoContext"] || d.Title != n["title"] {
			t.Fatalf("%.16s…: callback %s does not carry the notification as sent", id, evs[0].Type)
		}
	}
}

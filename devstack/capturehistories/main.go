// Command capturehistories runs IngestVideo through its main scenarios on a
// throwaway dev stack and writes each run's event history to
// workflows/testdata/histories/, where TestReplayCommittedHistories replays
// them against the current workflow code. Run it from the repository root
// after a deliberate change to the workflow (see README, "Changing a
// workflow safely"):
//
//	go run ./devstack/capturehistories
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
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/temporalproto"
	"go.temporal.io/sdk/client"

	"github.com/wochit-ingest/wochit-ingest/devstack"
	"github.com/wochit-ingest/wochit-ingest/devstack/mediaorigin"
	"github.com/wochit-ingest/wochit-ingest/internal/webhook"
)

const outDir = "workflows/testdata/histories"

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "capturehistories:", err)
		os.Exit(1)
	}
}

// receiver answers callbacks with the statuses queued in it, then 204.
type receiver struct{ statuses chan int }

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	_, _ = io.Copy(io.Discard, req.Body)
	select {
	case s := <-r.statuses:
		w.WriteHeader(s)
	default:
		w.WriteHeader(http.StatusNoContent)
	}
}

func run() error {
	if _, err := os.Stat(outDir); err != nil {
		return fmt.Errorf("run me from the repository root (%s not found)", outDir)
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
	recv := &receiver{statuses: make(chan int, 10)}
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

	post := func(id, videoPath string, want int) error {
		body, _ := json.Marshal(map[string]string{
			"videoContext": "user-1", "wochitVideoId": id, "title": "Captured history",
			// Signed-URL-like tokens: the histories must not show them.
			"videoUrl": originServer.URL + videoPath + "?X-Goog-Signature=capturedtoken", "thumbnailUrl": originServer.URL + "/t.png?X-Goog-Signature=capturedtoken",
		})
		resp, err := http.Post(stack.IngressURL+"/webhooks/wochit", "application/json", bytes.NewReader(body))
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			return fmt.Errorf("ingress answered %d, want %d", resp.StatusCode, want)
		}
		return nil
	}

	scenarios := []struct {
		name      string
		callbacks []int  // statuses the callback endpoint answers first
		video     string // video path on the origin
		again     bool   // send the notification again after the run closes
	}{
		{"happy-path", nil, "/v.mp4", false},
		{"transfer-failure", nil, "/missing.mp4", false},
		{"callback-retry", []int{503, 503}, "/v.mp4", false},
		// The first run's callback is rejected; the redelivered notification
		// starts a second run, which reuses the stored files (captured).
		{"duplicate-after-failure", []int{400}, "/v.mp4", true},
	}
	for i, sc := range scenarios {
		for _, s := range sc.callbacks {
			recv.statuses <- s
		}
		id := fmt.Sprintf("history-%d", i+1)
		workflowID := "wochit-video-" + id
		if err := post(id, sc.video, http.StatusAccepted); err != nil {
			return fmt.Errorf("%s: %w", sc.name, err)
		}
		if err := waitClosed(stack.Client, workflowID); err != nil {
			return fmt.Errorf("%s: %w", sc.name, err)
		}
		if sc.again {
			if err := post(id, sc.video, http.StatusAccepted); err != nil {
				return fmt.Errorf("%s, second run: %w", sc.name, err)
			}
			if err := waitClosed(stack.Client, workflowID); err != nil {
				return fmt.Errorf("%s: %w", sc.name, err)
			}
		}
		if err := save(stack.Client, workflowID, filepath.Join(outDir, sc.name+".json")); err != nil {
			return fmt.Errorf("%s: %w", sc.name, err)
		}
		fmt.Println("captured", sc.name)
	}
	return nil
}

// waitClosed waits until the latest run of workflowID has closed.
func waitClosed(c client.Client, workflowID string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for {
		desc, err := c.DescribeWorkflowExecution(ctx, workflowID, "")
		if err == nil && desc.GetWorkflowExecutionInfo().GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
			return nil
		}
		select {
		case <-ctx.Done():
			return errors.New("the run did not close in time")
		case <-time.After(100 * time.Millisecond):
		}
	}
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

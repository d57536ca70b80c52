package workflows_test

import (
	"bytes"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
	"google.golang.org/protobuf/proto"

	"github.com/wochit-ingest/wochit-ingest/internal/payloadcodec"
	"github.com/wochit-ingest/wochit-ingest/workflows"
)

// guardedBranches are the scenarios capturehistories captures, each a branch
// of the workflow its history guards.
var guardedBranches = []string{
	"happy-path", "transfer-failure", "callback-retry", "duplicate-after-failure",
	"cancelled", "redeliver-mid-sleep", "reuse-only", "incomplete-media", "deadline",
}

// Every committed history must replay against the current workflow code: a
// change that would make running workflows fail with a non-determinism error
// fails here first. Capture new histories with
// `go run ./devstack/capturehistories` (see README).
//
// Each branch's history fails it when that branch changes its commands, e.g.
// a workflow.Sleep added where the run ends cancelled (cancelled.json), after
// a redeliver signal cuts the sleep short (redeliver-mid-sleep.json), before
// a reuse-only transfer (reuse-only.json), or on the IncompleteMedia or
// DeadlineExceeded failure path (incomplete-media.json, deadline.json).
func TestReplayCommittedHistories(t *testing.T) {
	files, err := filepath.Glob("testdata/histories/*.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range guardedBranches {
		if !slices.Contains(files, filepath.Join("testdata", "histories", name+".json")) {
			t.Errorf("no committed history %s.json: go run ./devstack/capturehistories %s", name, name)
		}
	}
	ring := replayKeys(t)
	logger := sdklog.NewStructuredLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			// The codec decodes encrypted payloads and passes the older,
			// unencrypted histories' through.
			replayer, err := worker.NewWorkflowReplayerWithOptions(worker.WorkflowReplayerOptions{
				DataConverter: payloadcodec.DataConverter(ring), FailureConverter: payloadcodec.FailureConverter(ring),
			})
			if err != nil {
				t.Fatal(err)
			}
			replayer.RegisterWorkflowWithOptions(workflows.IngestVideo, workflow.RegisterOptions{Name: workflows.IngestVideoName})
			if err := replayer.ReplayWorkflowHistoryFromJSONFile(logger, file); err != nil {
				t.Fatalf("replaying %s: %v", file, err)
			}
		})
	}
}

// replayKeys is the key the committed histories were captured with
// (capturehistories); it protects nothing and is committed on purpose.
func replayKeys(t *testing.T) *payloadcodec.Keyring {
	t.Helper()
	b, err := os.ReadFile("testdata/histories/payload-keys")
	if err != nil {
		t.Fatal(err)
	}
	ring, err := payloadcodec.ParseKeyring(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	return ring
}

// The histories captured since payloads are encrypted hold the notification's
// URL token nowhere (in the older ones it is there to find, base64 or not,
// which shows the check can fail), and their input is an encrypted payload.
func TestCapturedHistoriesHoldNoURLToken(t *testing.T) {
	files, _ := filepath.Glob("testdata/histories/*.json")
	for _, file := range files {
		f, err := os.Open(file)
		if err != nil {
			t.Fatal(err)
		}
		h, err := client.HistoryFromJSON(f, client.HistoryJSONOptions{})
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		var raw []byte
		for _, ev := range h.GetEvents() {
			b, err := proto.Marshal(ev)
			if err != nil {
				t.Fatal(err)
			}
			raw = append(raw, b...)
		}
		input := h.GetEvents()[0].GetWorkflowExecutionStartedEventAttributes().GetInput().GetPayloads()[0]
		encrypted := string(input.GetMetadata()["encoding"]) == payloadcodec.EncodingEncrypted
		leaks := bytes.Contains(raw, []byte("X-Goog-Signature")) || bytes.Contains(raw, []byte("media.example"))
		if strings.HasSuffix(file, "-unencrypted.json") {
			if encrypted || !bytes.Contains(raw, []byte("http://")) {
				t.Errorf("%s: expected a plain history with its URLs in clear", file)
			}
			continue
		}
		if !encrypted || leaks || bytes.Contains(raw, []byte("capturedtoken")) || bytes.Contains(raw, []byte("http://127.0.0.1")) {
			t.Errorf("%s: input encrypted %v; the history shows its URLs or their token", file, encrypted)
		}
	}
}

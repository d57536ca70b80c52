package activities_test

import (
	"strings"
	"testing"

	"github.com/wochit-ingest/wochit-ingest/contract"

	"github.com/wochit-ingest/wochit-ingest/devstack/mediaorigin"
)

// A resumable upload's session URI (…&upload_id=…) lets anyone who holds it
// write to the upload for a week. The storage client's errors print it; the
// activity's error, which reaches history and the video.failed callback, and
// the logs must not.
func TestStorageErrorsDoNotLeakUploadSessions(t *testing.T) {
	f := newFixture(t)
	body := mediaorigin.Video("leak", 1<<20)
	// No ranges: one stream, uploaded in resumable chunks of 256 KiB.
	f.origin.Put("/v.mp4", mediaorigin.File{Body: body, ContentType: "video/mp4", NoRanges: true})
	f.gcsProxy.breakChunk = 2

	_, err := f.transfer(f.input(contract.KindVideo, "/v.mp4", "leak"))
	f.gcsProxy.mu.Lock()
	sessions := f.gcsProxy.brokenSessions
	f.gcsProxy.mu.Unlock()
	if len(sessions) != 1 || sessions[0] == "" {
		t.Fatalf("the proxy broke %d chunk uploads (%v), want 1", len(sessions), sessions)
	}
	if typ, final := failure(t, err); typ != contract.StorageError || final {
		t.Fatalf("error = %v, want a retryable %s", err, contract.StorageError)
	}
	msg := err.Error()
	// The message still says which request failed — the storage client's
	// error did name the session URI — but without its query string.
	if !strings.Contains(msg, "/upload/storage/v1/b/"+testBucket+"/o") {
		t.Fatalf("error %q does not quote the upload URL the storage client reported", msg)
	}
	logs := f.logs.String()
	if !strings.Contains(logs, "Activity error") {
		t.Fatalf("the failure was not logged; logs:\n%s", logs)
	}
	for what, text := range map[string]string{"error": msg, "logs": logs} {
		if strings.Contains(text, sessions[0]) || strings.Contains(text, "upload_id=") && !strings.Contains(text, "upload_id=REDACTED") {
			t.Errorf("the %s leak the upload session %s:\n%s", what, sessions[0], text)
		}
	}
	f.assertNothingStored("leak")
}

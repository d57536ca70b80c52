package transfer_test

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/wochit-ingest/wochit-ingest/contract"

	"github.com/wochit-ingest/wochit-ingest/devstack/mediaorigin"
)

// A resumable upload's session URI (…&upload_id=…) lets anyone who holds it
// write to the upload for a week. The storage client's errors print it; the
// copy's error — its message and its cause, which reach history, the
// video.failed callback and the worker's log — and what the copy logs must
// not.
func TestStorageErrorsDoNotLeakUploadSessions(t *testing.T) {
	e := newEnv(t)
	var logs logText
	e.opts.Logger = &logs
	body := mediaorigin.Video("leak", 1<<20)
	// No ranges: one stream, uploaded in resumable chunks of 256 KiB.
	e.origin.Put("/v.mp4", mediaorigin.File{Body: body, ContentType: "video/mp4", NoRanges: true})
	e.proxy.breakChunk = 2

	_, err := e.copyFile(e.input(contract.KindVideo, "/v.mp4", "leak"))
	e.proxy.mu.Lock()
	sessions := e.proxy.brokenSessions
	e.proxy.mu.Unlock()
	if len(sessions) != 1 || sessions[0] == "" {
		t.Fatalf("the proxy broke %d chunk uploads (%v), want 1", len(sessions), sessions)
	}
	if typ, final := reasonOf(t, err); typ != contract.StorageError || final {
		t.Fatalf("error = %v, want a retryable %s", err, contract.StorageError)
	}
	msg := err.Error()
	// The message still says which request failed — the storage client's
	// error did name the session URI — but without its query string.
	if !strings.Contains(msg, "/upload/storage/v1/b/b/o") {
		t.Fatalf("error %q does not quote the upload URL the storage client reported", msg)
	}
	texts := map[string]string{"error": msg, "logs": logs.String()}
	for cause := errors.Unwrap(err); cause != nil; cause = errors.Unwrap(cause) {
		texts["cause"] += cause.Error() + "\n"
	}
	for what, text := range texts {
		if strings.Contains(text, sessions[0]) || strings.Contains(text, "upload_id=") && !strings.Contains(text, "upload_id=REDACTED") {
			t.Errorf("the %s leak the upload session %s:\n%s", what, sessions[0], text)
		}
	}
	e.assertNothingLeft(t, "leak")
}

// logText records what Copy logs, as text.
type logText struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (l *logText) Info(msg string, keyvals ...any) { l.add(msg, keyvals) }
func (l *logText) Warn(msg string, keyvals ...any) { l.add(msg, keyvals) }

func (l *logText) add(msg string, keyvals []any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintln(&l.buf, append([]any{msg}, keyvals...)...)
}

func (l *logText) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

package transfer_test

import (
	"testing"
	"time"

	"github.com/wochit-ingest/wochit-ingest/contract"

	"github.com/wochit-ingest/wochit-ingest/devstack/mediaorigin"
)

func TestAccessDeniedAfterTheLinkExpiredIsFinal(t *testing.T) {
	e := newEnv(t)
	body := mediaorigin.Video("exp", 500<<10)
	// The first request is cut mid-way; afterwards the link is expired and
	// the origin answers 403.
	e.origin.Put("/v.mp4", mediaorigin.File{Body: body, ContentType: "video/mp4", NoRanges: true, CutAfter: 100 << 10, CutTimes: 1,
		Statuses: []int{0, 403, 403, 403}})
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	e.opts.Now = func() time.Time { return now }
	in := e.input(contract.KindVideo, "/v.mp4", "exp")
	in.linkExpiresAt = now.Add(time.Minute)

	_, err := e.copyFile(in)
	if typ, final := reasonOf(t, err); typ != contract.IncompleteBody || final {
		t.Fatalf("first attempt: %v, want a retryable %s", err, contract.IncompleteBody)
	}
	now = now.Add(2 * time.Minute) // the link has expired
	_, errs := e.attempts(in, 10)
	if len(errs) != 1 {
		t.Fatalf("after expiry %d attempts ran (%v), want 1", len(errs), errs)
	}
	if typ, final := reasonOf(t, errs[0]); typ != contract.LinkExpired || !final {
		t.Fatalf("error = %v, want a non-retryable %s", errs[0], contract.LinkExpired)
	}
	if n := e.origin.Stats("/v.mp4").Requests; n != 2 {
		t.Fatalf("origin saw %d requests, want 2 (no retry storm)", n)
	}
	e.assertNothingLeft(t, "exp")
}

func TestAccessDeniedBeforeExpiryIsRetried(t *testing.T) {
	e := newEnv(t)
	e.origin.Put("/v.mp4", mediaorigin.File{Body: []byte("x"), Statuses: []int{403}})
	in := e.input(contract.KindVideo, "/v.mp4", "deny")
	in.linkExpiresAt = time.Now().Add(time.Hour)
	_, err := e.copyFile(in)
	if typ, final := reasonOf(t, err); typ != contract.OriginDenied || final {
		t.Fatalf("error = %v, want a retryable %s", err, contract.OriginDenied)
	}
}

package transfer

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/wochit-ingest/wochit-ingest/contract"

	"cloud.google.com/go/storage"
	"google.golang.org/api/googleapi"

	"github.com/wochit-ingest/wochit-ingest/internal/redact"
	"github.com/wochit-ingest/wochit-ingest/transfer/origin"
)

// Error is how a copy fails: every failure of Copy is one, except the
// context's own error when ctx ended. Its message, and its cause, quote URLs
// without their query string and never a resumable upload's session id.
type Error struct {
	Reason contract.Reason
	// Final: another attempt would fail the same way.
	Final bool
	// RetryAfter is the delay the origin asked for before the next attempt;
	// zero when it named none.
	RetryAfter time.Duration
	msg        string
	cause      error // redacted and flattened; nil when none
	// counted and fingerprint say how the transfer counts this failure
	// across attempts (settle): a kind it tolerates only a few of, or the
	// fixed text that names it instead of msg.
	counted     counter
	fingerprint string
}

func (e *Error) Error() string { return e.msg }

// Unwrap returns the redacted cause, e.g. why deleting a bad object failed.
func (e *Error) Unwrap() error { return e.cause }

// permanent and retryable make every failure of the engine. Their messages
// reach logs, workflow history and the video.failed callback, so any URL in
// them loses its query string (see Redact).
func permanent(reason contract.Reason, cause error, format string, args ...any) error {
	return &Error{Reason: reason, Final: true, msg: Redact(fmt.Sprintf(format, args...)), cause: redactCause(cause)}
}

func retryable(reason contract.Reason, cause error, format string, args ...any) error {
	if reason == contract.StorageError {
		// The storage error is the cause or one of the arguments.
		for _, arg := range append([]any{cause}, args...) {
			if err, ok := arg.(error); ok && bucketInaccessible(err) {
				return permanent(contract.BucketInaccessible, cause, format+" (GCS refuses this worker the bucket: check GCS_BUCKET and the worker's role on it)", args...)
			}
		}
	}
	return &Error{Reason: reason, msg: Redact(fmt.Sprintf(format, args...)), cause: redactCause(cause)}
}

// fromOrigin types a failure of the origin client as the engine's; other
// errors (the context's) pass unchanged.
func fromOrigin(err error) error {
	var oe *origin.Error
	if !errors.As(err, &oe) {
		return err
	}
	return &Error{Reason: oe.Reason, Final: oe.Final, RetryAfter: oe.RetryAfter, msg: Redact(oe.Error())}
}

// Redact removes secrets from text that quotes URLs (redact.Text: signed-URL
// tokens, a resumable upload session's upload_id). It stays exported for
// devstack's contract check; new code calls redact.Text.
func Redact(text string) string { return redact.Text(text) }

// redactCause flattens a cause into its redacted message: a failure
// converter records a cause's whole Unwrap chain, and a storage error's
// chain holds the session URI in a url.Error.
func redactCause(err error) error {
	if err == nil {
		return nil
	}
	return errors.New(Redact(err.Error()))
}

func isPermanent(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Final
}

// bucketInaccessible reports a GCS answer about the bucket itself, which no
// retry changes: 401 or 403 (the worker's credentials may not use it; not a
// rate limit) or 404 for the bucket (not for an object: GCS says "The
// specified bucket does not exist", and the client says so for a listing).
func bucketInaccessible(err error) bool {
	if errors.Is(err, storage.ErrBucketNotExist) {
		return true
	}
	var gerr *googleapi.Error
	if !errors.As(err, &gerr) {
		return false
	}
	switch gerr.Code {
	case http.StatusUnauthorized:
		return true
	case http.StatusForbidden:
		for _, item := range gerr.Errors {
			if strings.Contains(strings.ToLower(item.Reason), "ratelimit") {
				return false
			}
		}
		return true
	case http.StatusNotFound:
		return strings.Contains(strings.ToLower(gerr.Message), "bucket")
	}
	return false
}

func isPreconditionFailed(err error) bool {
	var gerr *googleapi.Error
	return errors.As(err, &gerr) && gerr.Code == http.StatusPreconditionFailed
}

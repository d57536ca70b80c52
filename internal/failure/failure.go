// Package failure is the one typed failure of the service's own code: the
// origin client, the copy engine and the activities' own checks fail with an
// *Error carrying a contract.Reason. It is free of Temporal so that the
// engine (transfer/, transfer/origin/) runs and is tested without it.
//
// There are two kinds of typed failure on purpose, and one conversion
// between them: activities.applicationError turns an *Error into Temporal's
// ApplicationError (type = reason, non-retryable when Final, NextRetryDelay
// = RetryAfter), which is what a retry policy and the workflow read. Only
// workflow code builds ApplicationErrors itself, for its own final result.
package failure

import (
	"errors"
	"fmt"
	"time"

	"github.com/wochit-ingest/wochit-ingest/contract"

	"github.com/wochit-ingest/wochit-ingest/internal/redact"
)

// Error is a typed failure. Its message, and its cause, reach logs, workflow
// history and the video.failed callback, so they quote URLs without their
// secrets and never a resumable upload's session id (redact.Text).
type Error struct {
	Reason contract.Reason
	// Final: another attempt would fail the same way.
	Final bool
	// RetryAfter is the least delay before the next attempt (an origin's
	// Retry-After, a busy host); zero when none.
	RetryAfter time.Duration
	// Tally and Fingerprint say how a transfer counts this failure across
	// its attempts (transfer's settle): a kind it tolerates only a few of,
	// or the fixed text that names it instead of its message.
	Tally       string
	Fingerprint string
	msg         string
	cause       error // redacted and flattened; nil when none
}

func (e *Error) Error() string { return e.msg }

// Unwrap returns the redacted cause, e.g. why deleting a bad object failed.
func (e *Error) Unwrap() error { return e.cause }

// Note appends what the caller learned about the failure (how often it
// repeated, what the next attempt does) to its message.
func (e *Error) Note(format string, args ...any) {
	e.msg += fmt.Sprintf(format, args...)
}

// Permanent is a failure another attempt would repeat.
func Permanent(reason contract.Reason, cause error, format string, args ...any) *Error {
	return &Error{Reason: reason, Final: true, msg: redact.Text(fmt.Sprintf(format, args...)), cause: redactCause(cause)}
}

// Retryable is a failure another attempt may not meet.
func Retryable(reason contract.Reason, cause error, format string, args ...any) *Error {
	return &Error{Reason: reason, msg: redact.Text(fmt.Sprintf(format, args...)), cause: redactCause(cause)}
}

// redactCause flattens a cause into its redacted message: a failure
// converter records a cause's whole Unwrap chain, and a storage error's
// chain holds the session URI in a url.Error.
func redactCause(err error) error {
	if err == nil {
		return nil
	}
	return errors.New(redact.Text(err.Error()))
}

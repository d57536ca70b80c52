package activities

import (
	"errors"
	"fmt"
	"regexp"

	"go.temporal.io/sdk/temporal"
)

// Failure types. They appear as the ApplicationError type in Temporal (and in
// the Web UI), as the `reason` of a video.failed callback, and the workflow's
// retry policies list the non-retryable ones.
const (
	// Non-retryable: another attempt would fail the same way.
	ErrOriginNotFound        = "OriginNotFound"     // the origin answered 404
	ErrLinkExpired           = "LinkExpired"        // 410, or the link's lifetime is over
	ErrBlockedDestination    = "BlockedDestination" // URL resolves to an address we must not reach
	ErrInvalidInput          = "InvalidInput"       // the activity input cannot be used
	ErrObjectConflict        = "ObjectConflict"     // the object name holds someone else's object
	ErrTooLarge              = "TooLarge"           // larger than the configured limit
	ErrUnsupportedContent    = "UnsupportedContentType"
	ErrCallbackNotConfigured = "CallbackNotConfigured"

	// Retryable: the next attempt may well succeed.
	ErrOriginUnavailable = "OriginUnavailable" // 5xx, 408, 429, network errors
	ErrOriginMisbehaved  = "OriginMisbehaved"  // wrong Content-Range, changed file between parts
	// ErrOriginDenied (401/403 before the link's expiry) is retried a few
	// times, then final; after the expiry it is ErrLinkExpired at once.
	ErrOriginDenied   = "OriginDenied"
	ErrIncompleteBody = "IncompleteBody" // body cut short or longer than announced
	// ErrIncompleteMedia: the bytes arrived whole but are not a whole file of
	// their format (an MP4 its encoder has not finished). Retried while the
	// origin may still be finishing it, final after maxIncompleteWait — so
	// it is not in NonRetryableTransferErrors.
	ErrIncompleteMedia = "IncompleteMedia"
	ErrIntegrity       = "IntegrityMismatch" // GCS stored something other than what we read
	ErrStorage         = "StorageError"      // GCS request failed
)

// NonRetryableTransferErrors lists the TransferToGCS failure types that end
// the transfer at once; the workflow's retry policy repeats them so a
// wrongly-typed error cannot cause a retry storm either.
var NonRetryableTransferErrors = []string{
	ErrOriginNotFound, ErrLinkExpired, ErrBlockedDestination, ErrInvalidInput,
	ErrObjectConflict, ErrTooLarge, ErrUnsupportedContent,
}

// permanent and retryable make every failure of the transfer activities.
// Their messages reach logs, workflow history and the video.failed callback,
// so any URL in them loses its query string (see redact).
func permanent(errType string, cause error, format string, args ...any) error {
	return temporal.NewNonRetryableApplicationError(redact(fmt.Sprintf(format, args...)), errType, redactCause(cause))
}

func retryable(errType string, cause error, format string, args ...any) error {
	return temporal.NewApplicationErrorWithCause(redact(fmt.Sprintf(format, args...)), errType, redactCause(cause))
}

var (
	urlInText      = regexp.MustCompile(`(?i)\bhttps?://[^\s"'<>]+`)
	uploadIDInText = regexp.MustCompile(`(?i)\b(upload_?id=)[^&\s"'<>]+`)
)

// redact removes secrets from text that quotes URLs: signed-URL tokens, and
// the upload_id of a resumable upload session, which storage errors print
// with the session URI (url.Error) and which lets anyone holding it write to
// the upload for a week.
func redact(text string) string {
	text = urlInText.ReplaceAllStringFunc(text, RedactURL)
	return uploadIDInText.ReplaceAllString(text, "${1}REDACTED")
}

// redactCause flattens a cause into its redacted message: the failure
// converter records a cause's whole Unwrap chain, and a storage error's
// chain holds the session URI in a url.Error.
func redactCause(err error) error {
	if err == nil {
		return nil
	}
	return errors.New(redact(err.Error()))
}

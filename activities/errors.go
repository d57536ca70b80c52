package activities

import (
	"fmt"

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
	ErrIncompleteBody = "IncompleteBody"    // body cut short or longer than announced
	ErrIntegrity      = "IntegrityMismatch" // GCS stored something other than what we read
	ErrStorage        = "StorageError"      // GCS request failed
)

// NonRetryableTransferErrors lists the TransferToGCS failure types that end
// the transfer at once; the workflow's retry policy repeats them so a
// wrongly-typed error cannot cause a retry storm either.
var NonRetryableTransferErrors = []string{
	ErrOriginNotFound, ErrLinkExpired, ErrBlockedDestination, ErrInvalidInput,
	ErrObjectConflict, ErrTooLarge, ErrUnsupportedContent,
}

func permanent(errType string, cause error, format string, args ...any) error {
	return temporal.NewNonRetryableApplicationError(fmt.Sprintf(format, args...), errType, cause)
}

func retryable(errType string, cause error, format string, args ...any) error {
	return temporal.NewApplicationErrorWithCause(fmt.Sprintf(format, args...), errType, cause)
}

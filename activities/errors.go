package activities

import (
	"errors"
	"fmt"
	"regexp"

	"github.com/wochit-ingest/wochit-ingest/contract"
	"go.temporal.io/sdk/temporal"
)

// NonRetryableTransferTypes lists the TransferToGCS failures that end the
// transfer at once; the workflow's retry policy repeats them so a
// wrongly-typed error cannot cause a retry storm either. OriginDenied and
// IncompleteMedia become final on their own (NewNonRetryableApplicationError).
var NonRetryableTransferTypes = contract.Names(
	contract.OriginNotFound, contract.LinkExpired, contract.BlockedDestination, contract.InvalidInput,
	contract.ObjectConflict, contract.TooLarge, contract.UnsupportedContentType,
)

// permanent and retryable make every failure of the transfer activities.
// Their messages reach logs, workflow history and the video.failed callback,
// so any URL in them loses its query string (see redact).
func permanent(reason contract.Reason, cause error, format string, args ...any) error {
	return temporal.NewNonRetryableApplicationError(redact(fmt.Sprintf(format, args...)), string(reason), redactCause(cause))
}

func retryable(reason contract.Reason, cause error, format string, args ...any) error {
	return temporal.NewApplicationErrorWithCause(redact(fmt.Sprintf(format, args...)), string(reason), redactCause(cause))
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

package activities

import (
	"errors"
	"fmt"

	"github.com/wochit-ingest/wochit-ingest/contract"
	"go.temporal.io/sdk/temporal"

	"github.com/wochit-ingest/wochit-ingest/transfer"
)

// NonRetryableTransferTypes lists the TransferToGCS failures that end the
// transfer at once; the workflow's retry policy repeats them so a
// wrongly-typed error cannot cause a retry storm either. OriginDenied,
// OriginRejected and IncompleteMedia become final on their own
// (NewNonRetryableApplicationError).
var NonRetryableTransferTypes = contract.Names(
	contract.OriginNotFound, contract.LinkExpired, contract.BlockedDestination, contract.InvalidInput,
	contract.ObjectConflict, contract.TooLarge, contract.UnsupportedContentType, contract.BucketInaccessible,
	contract.UndelimitedBody,
)

// applicationError makes a copy's failure Temporal's: its reason is the
// error type, a final one is non-retryable, and an origin's Retry-After
// sets the next retry's delay. The engine's messages are redacted already.
// Other errors (the activity's context ended) pass unchanged.
func applicationError(err error) error {
	var e *transfer.Error
	if !errors.As(err, &e) {
		return err
	}
	return temporal.NewApplicationErrorWithOptions(e.Error(), string(e.Reason), temporal.ApplicationErrorOptions{
		NonRetryable: e.Final, Cause: e.Unwrap(), NextRetryDelay: e.RetryAfter,
	})
}

// permanent and retryable make the activities' own failures (the copy's
// come typed from transfer). Their messages reach logs, workflow history and
// the video.failed callback, so any URL in them loses its query string
// (transfer.Redact).
func permanent(reason contract.Reason, cause error, format string, args ...any) error {
	return temporal.NewNonRetryableApplicationError(transfer.Redact(fmt.Sprintf(format, args...)), string(reason), redactCause(cause))
}

func retryable(reason contract.Reason, cause error, format string, args ...any) error {
	return temporal.NewApplicationErrorWithCause(transfer.Redact(fmt.Sprintf(format, args...)), string(reason), redactCause(cause))
}

// redactCause flattens a cause into its redacted message: the failure
// converter records a cause's whole Unwrap chain.
func redactCause(err error) error {
	if err == nil {
		return nil
	}
	return errors.New(transfer.Redact(err.Error()))
}

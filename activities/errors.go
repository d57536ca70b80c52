package activities

import (
	"errors"

	"go.temporal.io/sdk/temporal"

	"github.com/wochit-ingest/wochit-ingest/contract"

	"github.com/wochit-ingest/wochit-ingest/internal/failure"
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

// applicationError makes a failure Temporal's — the one place the service's
// typed failure (internal/failure: the copy's, and the activities' own)
// becomes an ApplicationError, because a retry policy and the workflow read
// only that: its reason is the error type, a final one is non-retryable,
// and a RetryAfter sets the next retry's delay. Messages are redacted
// already. Other errors (the activity's context ended) pass unchanged.
func applicationError(err error) error {
	var e *failure.Error
	if !errors.As(err, &e) {
		return err
	}
	return temporal.NewApplicationErrorWithOptions(e.Error(), string(e.Reason), temporal.ApplicationErrorOptions{
		NonRetryable: e.Final, Cause: e.Unwrap(), NextRetryDelay: e.RetryAfter,
	})
}

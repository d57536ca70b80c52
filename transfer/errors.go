package transfer

import (
	"errors"
	"net/http"
	"strings"

	"github.com/wochit-ingest/wochit-ingest/contract"

	"cloud.google.com/go/storage"
	"google.golang.org/api/googleapi"

	"github.com/wochit-ingest/wochit-ingest/internal/failure"
)

// Error is how a copy fails: every failure of Copy is one, except the
// context's own error when ctx ended. It is the one typed failure of the
// service's code (internal/failure, which says why activities convert it to
// Temporal's); its message, and its cause, quote URLs without their query
// string and never a resumable upload's session id.
type Error = failure.Error

// storageFailure is failure.Retryable(contract.StorageError, ...), except
// that GCS refusing this worker the bucket is final (BucketInaccessible).
// The storage error is the cause or one of the arguments.
func storageFailure(cause error, format string, args ...any) error {
	for _, arg := range append([]any{cause}, args...) {
		if err, ok := arg.(error); ok && bucketInaccessible(err) {
			return failure.Permanent(contract.BucketInaccessible, cause, format+" (GCS refuses this worker the bucket: check GCS_BUCKET and the worker's role on it)", args...)
		}
	}
	return failure.Retryable(contract.StorageError, cause, format, args...)
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

package contract

// Reason names one way an ingest, a transfer or a callback fails. It is the
// ApplicationError type in Temporal (and the Web UI), the `reason` of a
// video.failed callback, and what retry policies list. Values are part of the
// public interface: never rename one.
type Reason string

// Transfer failures that another attempt would repeat: final at once.
const (
	OriginNotFound         Reason = "OriginNotFound"         // the origin answered 404
	LinkExpired            Reason = "LinkExpired"            // 410, or the link's lifetime is over
	BlockedDestination     Reason = "BlockedDestination"     // a URL resolves to an address we must not reach
	InvalidInput           Reason = "InvalidInput"           // the activity input cannot be used
	ObjectConflict         Reason = "ObjectConflict"         // the object name holds someone else's object
	TooLarge               Reason = "TooLarge"               // larger than the configured limit
	UnsupportedContentType Reason = "UnsupportedContentType" // not an accepted video/image format
	CallbackNotConfigured  Reason = "CallbackNotConfigured"  // the worker has no callback URL
	// BucketInaccessible: GCS answered 401/403 for the bucket, or 404 for
	// the bucket itself — a configuration to fix (GCS_BUCKET, the worker's
	// role), not a file to retry.
	BucketInaccessible Reason = "BucketInaccessible"
	// UndelimitedBody: the origin sent the file with no declared length
	// (HTTP/1.x, neither Content-Length nor chunked), so it ends wherever
	// the connection closed, and the file's format cannot show where it
	// ends (MPEG-TS, Matroska of unknown size, an MP4 ending in a size-0
	// box, a JPEG with bytes after its EOI).
	UndelimitedBody Reason = "UndelimitedBody"
)

// Transfer failures the next attempt may well not have.
const (
	OriginUnavailable Reason = "OriginUnavailable" // 5xx, 408, 429, network errors
	OriginMisbehaved  Reason = "OriginMisbehaved"  // wrong Content-Range, a file that changed between parts
	// OriginDenied (401/403 before the link's expiry) is retried a few
	// times, then final; after the expiry it is LinkExpired at once.
	OriginDenied Reason = "OriginDenied"
	// OriginRejected (another 4xx but 408, 425 and 429: 400, 405, 414…)
	// is retried a few times too, then final.
	OriginRejected Reason = "OriginRejected"
	IncompleteBody Reason = "IncompleteBody" // a body cut short or longer than announced
	// IncompleteMedia: the bytes arrived whole but are not a whole file of
	// their format (an MP4 its encoder has not finished). Retried while the
	// origin may still be finishing it, final after about 10 minutes.
	IncompleteMedia   Reason = "IncompleteMedia"
	IntegrityMismatch Reason = "IntegrityMismatch" // GCS stored something other than what we read
	StorageError      Reason = "StorageError"      // a GCS request failed
	// OriginHostBusy: this worker already runs as many transfers from the
	// file's origin host as it allows one host (ORIGIN_HOST_SLOT_PERCENT);
	// retried shortly, on any worker. Never final.
	OriginHostBusy Reason = "OriginHostBusy"
)

// Failures of the workflow itself.
const (
	DeadlineExceeded Reason = "DeadlineExceeded" // transient failures went on until the links' deadline
	TransferFailed   Reason = "TransferFailed"   // a transfer failed without a typed reason
	Cancelled        Reason = "Cancelled"        // the run was cancelled before both files were stored
)

// How a callback delivery ends without success; the workflow fails with
// them as its error type.
const (
	CallbackGone      Reason = "CallbackGone"      // 410: the endpoint asked us to stop
	CallbackRejected  Reason = "CallbackRejected"  // another 4xx: retrying would not help
	CallbackExhausted Reason = "CallbackExhausted" // every attempt of the schedule failed
)

// Names returns the reasons as strings, for Temporal's retry policies.
func Names(reasons ...Reason) []string {
	s := make([]string, len(reasons))
	for i, r := range reasons {
		s[i] = string(r)
	}
	return s
}

// Reasons is every Reason above, in declaration order. A failure whose type
// is not among them (a panic in an activity, an SDK error) is not a reason
// a customer's backend can act on: the workflow reports it TransferFailed.
// TestReasonsListsEveryReason keeps this list and the constants in step.
var Reasons = []Reason{
	OriginNotFound, LinkExpired, BlockedDestination, InvalidInput, ObjectConflict, TooLarge, UnsupportedContentType,
	CallbackNotConfigured, BucketInaccessible, UndelimitedBody,
	OriginUnavailable, OriginMisbehaved, OriginDenied, OriginRejected, IncompleteBody, IncompleteMedia,
	IntegrityMismatch, StorageError, OriginHostBusy,
	DeadlineExceeded, TransferFailed, Cancelled,
	CallbackGone, CallbackRejected, CallbackExhausted,
}

// Known reports whether r is one of Reasons.
func (r Reason) Known() bool {
	for _, k := range Reasons {
		if r == k {
			return true
		}
	}
	return false
}

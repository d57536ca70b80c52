package transfer

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"time"

	"github.com/wochit-ingest/wochit-ingest/contract"
)

// A transfer's attempts are retried until its deadline, 24 hours away; a
// failure that another attempt repeats exactly must not be repeated at full
// rate (up to ~290 full downloads), and one the origin may repair must not
// fail the video because of when in the transfer it came. So the failures
// of a transfer are counted across its attempts, in its progress (which the
// heartbeat carries to the next attempt), not by the attempt's number.

// Failures is what the earlier attempts of one transfer failed with.
// It travels in the heartbeat (activities.TransferProgress), hence the JSON
// names: they are what in-flight attempts resume from across a deploy.
type Failures struct {
	// Last fingerprints the last failure that is otherwise retried until
	// the deadline (its reason and a hash of what it said), and Repeats
	// counts the attempts in a row that failed with it.
	Last    string `json:",omitempty"`
	Repeats int    `json:",omitempty"`
	// Denied, Refused and HTMLPages count the attempts that failed because
	// the origin answered 401/403 before the link's expiry, refused the
	// request with another 4xx, or served an HTML page with 200.
	Denied    int `json:",omitempty"`
	Refused   int `json:",omitempty"`
	HTMLPages int `json:",omitempty"`
}

const (
	// maxRefusals is the attempt of a transfer on which a denial, a
	// refusal or an HTML page is final: two retries, for a CDN hiccup or
	// a maintenance page, not a day of them.
	maxRefusals = 3
	// repeatedFailureDelay is the least wait before the next attempt once
	// two attempts in a row failed the same way.
	repeatedFailureDelay = 30 * time.Minute
)

// htmlPage tallies (Error.Tally) the failures a transfer tolerates only
// maxRefusals of: an HTML page served with 200.
const htmlPage = "html-page"

// settle counts the attempt's failure into the transfer's record and
// decides what it means for the next attempt: a third denial, refusal or
// HTML page is final, and a failure identical to the previous one waits at
// least repeatedFailureDelay. It returns err, amended, and the record.
func settle(err error, before Failures) (error, Failures) {
	f := before
	var e *Error
	if !errors.As(err, &e) || e.Final {
		return err, f
	}
	switch {
	case e.Reason == contract.OriginDenied:
		f.Denied++
		if f.Denied >= maxRefusals {
			e.Final = true
			e.Note(" (denied on %d attempts of this transfer)", f.Denied)
		}
	case e.Reason == contract.OriginRejected:
		f.Refused++
		if f.Refused >= maxRefusals {
			e.Final = true
			e.Note(" (refused on %d attempts of this transfer)", f.Refused)
		}
	case e.Tally == htmlPage:
		f.HTMLPages++
		if f.HTMLPages >= maxRefusals {
			e.Reason, e.Final = contract.UnsupportedContentType, true
			e.Note(" (on %d attempts of this transfer)", f.HTMLPages)
		}
	case fingerprinted(e):
		fp := fingerprint(e)
		if fp == f.Last {
			f.Repeats++
		} else {
			f.Last, f.Repeats = fp, 1
		}
		if f.Repeats >= 2 && e.RetryAfter < repeatedFailureDelay {
			e.RetryAfter = repeatedFailureDelay
			e.Note(" (the same failure as the previous attempt's: the next attempt waits %s)", repeatedFailureDelay)
		}
	}
	return err, f
}

// fingerprinted reports whether a failure says something about the file or
// the bucket that the next attempt is likely to meet again — a checksum,
// a length, a header, a storage answer — as opposed to the origin being
// unavailable (5xx, 429, a network error, nothing for the idle timeout:
// the workflow's backoff handles those) or a file its encoder may still be
// finishing (IncompleteMedia has its own limit).
func fingerprinted(e *Error) bool {
	switch e.Reason {
	case contract.OriginUnavailable:
		return e.Fingerprint != "" // the progress watchdog's cut
	case contract.IncompleteMedia:
		return false
	}
	return true
}

// fingerprint names a failure: its reason and a hash of its message (which
// holds the offsets, sizes, checksums and headers that make it what it is,
// and no secret), or of the fixed text the failure set.
func fingerprint(e *Error) string {
	what := e.Fingerprint
	if what == "" {
		what = e.Error()
	}
	sum := sha256.Sum256([]byte(what))
	return string(e.Reason) + ":" + hex.EncodeToString(sum[:8])
}

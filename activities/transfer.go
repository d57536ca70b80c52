package activities

import (
	"context"
	"errors"
	"time"

	"github.com/wochit-ingest/wochit-ingest/contract"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/wochit-ingest/wochit-ingest/transfer"
)

// TransferInput names one file to copy into GCS.
type TransferInput struct {
	Kind          contract.AssetKind
	SourceURL     string
	WochitVideoID string
	VideoContext  string
	// LinkExpiresAt is when the source URL stops working; a 401/403 after it
	// means the link expired (final), before it a hiccup (retried).
	LinkExpiresAt time.Time `json:",omitempty"`
	// ReuseOnly accepts only a file an earlier run stored and never contacts
	// the origin: the workflow sets it once the links have expired.
	ReuseOnly bool `json:",omitempty"`
}

// TransferResult is what the workflow learns about a stored file.
type TransferResult struct {
	Object     contract.StoredObject
	SourceETag string `json:",omitempty"`
	// Parts is how many ranged parts the file was copied in (0: one stream).
	Parts int `json:",omitempty"`
	// Reused is true when an earlier attempt or run had stored the object
	// already, and this attempt only checked it.
	Reused bool `json:",omitempty"`
}

// TransferProgress is the heartbeat detail of a running transfer, shown in the
// Web UI under the pending activity. A retried attempt reads it back to know
// which parts an earlier attempt finished, in which part size, of which
// version of the file. It is transfer.Progress on the wire: the JSON shape is
// what in-flight attempts resume from across a deploy, so it must not change
// (the fields convert one to one, which the compiler checks).
type TransferProgress struct {
	Kind     contract.AssetKind
	Bytes    int64
	Total    int64 // -1 while the size is unknown
	PartSize int64 `json:",omitempty"`
	// Validator is the strong ETag or Last-Modified of the version the
	// parts are of (sent as If-Range with every part request).
	Validator string       `json:",omitempty"`
	Parts     []PartRecord `json:",omitempty"` // finished parts
	// IncompleteSince is when an attempt first found the file unfinished;
	// later attempts give up 10 minutes after it.
	IncompleteSince time.Time `json:",omitzero"`
	// Failures is what the earlier attempts failed with: the last failure's
	// fingerprint and how many attempts in a row repeated it, and the
	// denials, refusals and HTML pages of the transfer so far.
	Failures transfer.Failures `json:",omitzero"`
	// RangeCap is the longest range the origin served when it cut a part's
	// range short: later attempts plan parts no longer than that.
	RangeCap int64 `json:",omitempty"`
}

// PartRecord is one finished part: its index and the CRC32C of its bytes.
type PartRecord = transfer.PartRecord

// TransferToGCS copies one media file from its origin into GCS under a
// deterministic name (transfer.Copy). The object only comes into existence
// once every byte arrived and GCS's CRC32C matches the one computed while
// reading; an interrupted attempt leaves nothing visible. Origins that
// support ranges are copied in parts, so a crash costs at most the parts in
// flight: the heartbeat records the parts done, and a retry resumes from it.
func (a *Activities) TransferToGCS(ctx context.Context, in TransferInput) (res TransferResult, err error) {
	started := a.now()
	defer func() { a.Metrics.attempt(in.Kind, outcomeOf(res, err), a.now().Sub(started).Seconds()) }()

	settings := a.transferSettings()
	if !in.ReuseOnly {
		release, err := a.takeHostSlot(in, settings)
		if err != nil {
			return TransferResult{}, err
		}
		defer release()
	}
	hb := startHeartbeat(ctx, settings.HeartbeatInterval)
	defer hb.stop()
	out, err := transfer.Copy(ctx, a.transferSource(ctx, in), a.transferDestination(in), a.transferOptions(ctx, in, settings, hb.set))
	if err != nil {
		return TransferResult{}, applicationError(err)
	}
	if !out.Reused {
		a.Metrics.stored(in.Kind, in.LinkExpiresAt, a.now())
	}
	return TransferResult(out), nil
}

func (a *Activities) transferSource(ctx context.Context, in TransferInput) transfer.Source {
	src := transfer.Source{URL: in.SourceURL, HTTP: a.Origin, LinkExpiresAt: in.LinkExpiresAt}
	if activity.IsActivity(ctx) {
		src.Attempt = int(activity.GetInfo(ctx).Attempt)
	}
	return src
}

func (a *Activities) transferDestination(in TransferInput) transfer.Destination {
	return transfer.Destination{
		Bucket: a.Storage.Bucket(a.Bucket), Prefix: a.Prefix,
		WochitVideoID: in.WochitVideoID, Kind: in.Kind, VideoContext: in.VideoContext,
	}
}

func (a *Activities) transferOptions(ctx context.Context, in TransferInput, s TransferSettings, progress func(transfer.Progress)) transfer.Options {
	opts := transfer.Options{
		ChunkSize:        s.ChunkSize,
		PartSize:         s.PartSize,
		PartConcurrency:  s.PartConcurrency,
		MinPartSize:      s.MinPartSize,
		MaxBytes:         s.maxBytes(in.Kind),
		IdleTimeout:      s.IdleTimeout,
		MinProgress:      s.MinProgress,
		ProgressWindow:   s.ProgressWindow,
		Resume:           transfer.Progress(previousProgress(ctx, in.Kind)),
		ReuseOnly:        in.ReuseOnly,
		Progress:         progress,
		ProgressInterval: s.HeartbeatInterval,
		ReserveMemory:    a.reserveMemory,
		CountBytes:       func(n int64) { a.Metrics.addBytes(in.Kind, n) },
		IntegrityFailure: func() { a.Metrics.integrityFailure(in.Kind) },
		Now:              a.now,
	}
	if activity.IsActivity(ctx) {
		opts.Logger = activity.GetLogger(ctx)
	}
	return opts
}

// outcomeOf is an attempt's "outcome" label: stored, reused, cancelled or
// the failure's reason — one of contract.Reasons whatever the error's type
// says (an unknown type counts as TransferFailed), so the label set is fixed.
func outcomeOf(res TransferResult, err error) string {
	var appErr *temporal.ApplicationError
	switch {
	case err == nil && res.Reused:
		return transferReused
	case err == nil:
		return transferStored
	case errors.As(err, &appErr):
		if reason := contract.Reason(appErr.Type()); reason.Known() {
			return string(reason)
		}
		return string(contract.TransferFailed)
	default:
		return transferCancelled
	}
}

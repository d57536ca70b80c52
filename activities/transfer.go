package activities

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/wochit-ingest/wochit-ingest/contract"

	"cloud.google.com/go/storage"
	"go.temporal.io/sdk/temporal"
	"google.golang.org/api/googleapi"

	"github.com/wochit-ingest/wochit-ingest/internal/crc32c"
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
// version of the file.
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
	// later attempts give up maxIncompleteWait after it.
	IncompleteSince time.Time `json:",omitzero"`
}

// PartRecord is one finished part: its index and the CRC32C of its bytes.
type PartRecord struct {
	Index  int
	CRC32C string
}

// TransferToGCS copies one media file from its origin into GCS under a
// deterministic name. The object only comes into existence once every byte
// arrived and GCS's CRC32C matches the one computed while reading; an
// interrupted attempt leaves nothing visible (uploads are abandoned by
// cancelling them, never finalized). Origins that support ranges are copied
// in parts, so a crash costs at most the parts in flight.
func (a *Activities) TransferToGCS(ctx context.Context, in TransferInput) (res TransferResult, err error) {
	started := a.now()
	defer func() { a.Metrics.attempt(in.Kind, outcomeOf(res, err), a.now().Sub(started).Seconds()) }()

	src, err := in.validate()
	if err != nil {
		return TransferResult{}, permanent(contract.InvalidInput, nil, "%v", err)
	}
	source := RedactURL(in.SourceURL)
	bucket := a.Storage.Bucket(a.Bucket)
	settings := a.transferSettings()
	previous := previousProgress(ctx, in.Kind)
	hb := startHeartbeat(ctx, settings.HeartbeatInterval, initialProgress(previous))
	defer hb.stop()

	// An earlier attempt, or an earlier run for the same video, may have stored
	// the file already. Reuse it without touching the origin, whose link may
	// have expired since.
	if res, found, err := a.findStored(ctx, bucket, in, src, source); err != nil || found {
		return res, err
	}
	if in.ReuseOnly {
		return TransferResult{}, permanent(contract.LinkExpired, nil,
			"no %s was stored for video %s and its link has expired; the origin was not contacted", in.Kind, in.WochitVideoID)
	}

	// A retry of a parted transfer knows the part size and the version
	// already: a few bytes to sniff and to compare validators are enough.
	first := settings.PartSize
	if previous.resumable() {
		first = sniffLen
	}
	probe, err := a.probe(ctx, in, first)
	if err != nil {
		return TransferResult{}, err
	}
	limit := settings.maxBytes(in.Kind)
	if probe.total > limit {
		probe.resp.Body.Close()
		return TransferResult{}, permanent(contract.TooLarge, nil, "the %s is %d bytes; the limit is %d", in.Kind, probe.total, limit)
	}
	plan, parted := a.planParts(ctx, in, probe, previous, settings, source)
	if !parted && probe.partial() {
		// The rest cannot be fetched in parts: ask for the file whole.
		probe.resp.Body.Close()
		if probe, err = a.wholeFile(ctx, in); err != nil {
			return TransferResult{}, err
		}
	}
	defer probe.resp.Body.Close()

	if probe.total > limit {
		return TransferResult{}, permanent(contract.TooLarge, nil, "the %s is %d bytes; the limit is %d", in.Kind, probe.total, limit)
	}
	if ce := probe.resp.Header.Get("Content-Encoding"); ce != "" && ce != "identity" {
		return TransferResult{}, permanent(contract.UnsupportedContentType, nil, "the origin sends the %s with Content-Encoding %q", in.Kind, ce)
	}
	// Large enough to sniff and to see the first box headers; copies read
	// past it with their own buffers.
	body := bufio.NewReaderSize(probe.resp.Body, headLen)
	head, peekErr := body.Peek(headLen)
	if peekErr != nil && peekErr != io.EOF && peekErr != bufio.ErrBufferFull {
		return TransferResult{}, retryable(contract.IncompleteBody, nil, "reading the first bytes of %s: %v", source, readError(probe.resp, peekErr))
	}
	contentType, err := contentTypeOf(in.Kind, probe.resp.Header.Get("Content-Type"), head)
	if err != nil {
		return TransferResult{}, err
	}
	if err := checkHead(head, probe.total); err != nil {
		return TransferResult{}, a.incompleteMedia(hb, in.Kind, source, err)
	}

	etag := probe.resp.Header.Get("ETag")
	obj := bucket.Object(a.objectName(in.Kind, in.WochitVideoID, src.Path, contentType))
	meta := map[string]string{
		metaWochitVideoID: in.WochitVideoID,
		metaVideoContext:  fitMetadata(in.VideoContext, maxMetadataText),
		metaSourceURL:     fitMetadata(source, maxMetadataText),
		metaKind:          string(in.Kind),
	}
	if etag != "" {
		meta[metaSourceETag] = fitMetadata(etag, maxMetadataValidator)
	}
	declared := declaredHashes(probe.resp.Header)

	var attrs *storage.ObjectAttrs
	var sums digest
	parts := 0
	switch {
	case parted:
		parts = plan.count()
		var part0 io.ReadCloser // the probe's body, when it is exactly part 0
		if _, length := plan.bounds(0); probe.length == length {
			part0 = readCloser{body, probe.resp.Body}
		}
		attrs, sums, err = a.transferParts(ctx, hb, plan, previous, part0, obj, contentType, meta, declared)
		// Verified parts are the resume point of a retry; once the final
		// object exists, or the transfer cannot succeed, they are litter.
		if err == nil || isPreconditionFailed(err) || isPermanent(err) {
			a.deleteParts(ctx, plan.dir)
		}
	case probe.length >= 0 && probe.length <= int64(settings.ChunkSize):
		// Read whole first, if the process's memory budget allows;
		// otherwise streamed without a buffer.
		if release, ok := a.reserveMemory(probe.length); ok {
			attrs, sums, err = a.storeSmall(ctx, hb, obj, in.Kind, probe, body, contentType, meta, declared)
			release()
		} else {
			attrs, sums, err = a.stream(ctx, hb, obj, in.Kind, probe, body, contentType, meta, limit, declared, 0)
		}
	default:
		chunk := chunkSizeFor(probe.length, settings.ChunkSize)
		// Videos hold their chunk within VIDEO_TRANSFER_SLOTS; thumbnails,
		// many more at once on the light queue, only within the budget.
		if in.Kind == contract.KindThumbnail {
			release, ok := a.reserveMemory(int64(chunk))
			defer release()
			if !ok {
				chunk = 0
			}
		}
		attrs, sums, err = a.stream(ctx, hb, obj, in.Kind, probe, body, contentType, meta, limit, declared, chunk)
	}
	if isPreconditionFailed(err) {
		// The object appeared between our check and our finalize: a
		// concurrent attempt (an activity whose heartbeat timed out but kept
		// running) got there first.
		return a.acceptExisting(ctx, obj, in, source)
	}
	if err != nil {
		return TransferResult{}, err
	}

	md5Differs := sums.md5 != nil && len(attrs.MD5) > 0 && !bytes.Equal(attrs.MD5, sums.md5)
	if attrs.CRC32C != sums.crc32c || attrs.Size != sums.size || md5Differs {
		// GCS holds other bytes than we read. Remove exactly that generation
		// (a later, correct one must survive) and let the retry start over.
		a.Metrics.integrityFailure(in.Kind)
		delErr := obj.If(storage.Conditions{GenerationMatch: attrs.Generation}).Delete(ctx)
		return TransferResult{}, retryable(contract.IntegrityMismatch, delErr,
			"stored object %s has crc32c %s, md5 %x and %d bytes, but crc32c %s, md5 %x and %d bytes were read from the origin",
			attrs.Name, crc32c.Encode(attrs.CRC32C), attrs.MD5, attrs.Size, crc32c.Encode(sums.crc32c), sums.md5, sums.size)
	}

	if attrs.Metadata[metaCRC32C] == "" {
		if attrs, err = recordChecksums(ctx, obj, attrs, sums); err != nil {
			return TransferResult{}, retryable(contract.StorageError, nil, "recording checksums on %s: %v", obj.ObjectName(), err)
		}
	}
	return TransferResult{Object: storedObject(attrs), SourceETag: etag, Parts: parts}, nil
}

// headLen is how much of the first answer is looked at before copying.
const headLen = 4 << 10

func (in TransferInput) validate() (*url.URL, error) {
	switch {
	case in.Kind != contract.KindVideo && in.Kind != contract.KindThumbnail:
		return nil, fmt.Errorf("unknown asset kind %q", in.Kind)
	case in.WochitVideoID == "":
		return nil, errors.New("empty wochitVideoId")
	}
	u, err := url.Parse(in.SourceURL)
	if err != nil || !u.IsAbs() || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("source %q is not an absolute http(s) URL", RedactURL(in.SourceURL))
	}
	return u, nil
}

func isPreconditionFailed(err error) bool {
	var gerr *googleapi.Error
	return errors.As(err, &gerr) && gerr.Code == http.StatusPreconditionFailed
}

func isPermanent(err error) bool {
	var appErr *temporal.ApplicationError
	return errors.As(err, &appErr) && appErr.NonRetryable()
}

func outcomeOf(res TransferResult, err error) string {
	var appErr *temporal.ApplicationError
	switch {
	case err == nil && res.Reused:
		return "reused"
	case err == nil:
		return "stored"
	case errors.As(err, &appErr):
		return appErr.Type()
	default:
		return "cancelled"
	}
}

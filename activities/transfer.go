package activities

import (
	"context"
	"crypto/md5"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync/atomic"
	"time"

	"cloud.google.com/go/storage"
	"go.temporal.io/sdk/activity"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/iterator"

	"wochit-ingest/internal/safehttp"
)

// TransferInput names one file to copy into GCS.
type TransferInput struct {
	Kind          AssetKind
	SourceURL     string
	WochitVideoID string
	VideoContext  string
	// ReuseOnly accepts only a file an earlier run stored and never contacts
	// the origin: the workflow sets it once the links have expired.
	ReuseOnly bool `json:",omitempty"`
}

// TransferResult is what the workflow learns about a stored file.
type TransferResult struct {
	Object     StoredObject
	SourceETag string `json:",omitempty"`
	// Reused is true when an earlier attempt or run had stored the object
	// already, and this attempt only checked it.
	Reused bool `json:",omitempty"`
}

// TransferProgress is the heartbeat detail of a running transfer, shown in the
// Web UI under the pending activity.
type TransferProgress struct {
	Kind  AssetKind
	Bytes int64
	Total int64 // -1 while the size is unknown
}

var crc32cTable = crc32.MakeTable(crc32.Castagnoli)

// TransferToGCS streams one media file from its origin into GCS under a
// deterministic name, and only lets the object come into existence if every
// byte arrived and GCS's checksum matches the one computed while reading.
// An interrupted attempt leaves no object: the upload is abandoned by
// cancelling its context, never finalized.
func (a *Activities) TransferToGCS(ctx context.Context, in TransferInput) (TransferResult, error) {
	src, err := in.validate()
	if err != nil {
		return TransferResult{}, permanent(ErrInvalidInput, nil, "%v", err)
	}
	source := RedactURL(in.SourceURL)
	bucket := a.Storage.Bucket(a.Bucket)

	// An earlier attempt, or an earlier run for the same video, may have stored
	// the file already. Reuse it without touching the origin, whose link may
	// have expired since.
	if res, found, err := a.findStored(ctx, bucket, in, source); err != nil || found {
		return res, err
	}
	if in.ReuseOnly {
		return TransferResult{}, permanent(ErrLinkExpired, nil,
			"no %s was stored for video %s and its link has expired; the origin was not contacted", in.Kind, in.WochitVideoID)
	}

	resp, err := a.fetch(ctx, in.SourceURL)
	if err != nil {
		return TransferResult{}, err
	}
	defer resp.Body.Close()

	contentType := resp.Header.Get("Content-Type")
	if contentType == "" {
		contentType = "application/octet-stream"
	}
	obj := bucket.Object(a.objectName(in.Kind, in.WochitVideoID, src.Path, contentType))
	meta := map[string]string{
		metaWochitVideoID: in.WochitVideoID,
		metaVideoContext:  truncate(in.VideoContext, maxMetadataValue),
		metaSourceURL:     truncate(source, maxMetadataValue),
		metaKind:          string(in.Kind),
	}

	attrs, sums, err := a.stream(ctx, obj, in.Kind, resp, contentType, meta)
	if isPreconditionFailed(err) {
		// The object appeared between our check and our finalize: a
		// concurrent attempt (an activity whose heartbeat timed out but kept
		// running) got there first.
		return a.acceptExisting(ctx, obj, in, source)
	}
	if err != nil {
		return TransferResult{}, err
	}

	if attrs.CRC32C != sums.crc32c || attrs.Size != sums.size {
		// GCS holds other bytes than we read. Remove exactly that generation
		// (a later, correct one must survive) and let the retry start over.
		delErr := obj.If(storage.Conditions{GenerationMatch: attrs.Generation}).Delete(ctx)
		return TransferResult{}, retryable(ErrIntegrity, delErr,
			"stored object %s has crc32c %s and %d bytes, but %s and %d bytes were read from the origin",
			attrs.Name, encodeCRC32C(attrs.CRC32C), attrs.Size, encodeCRC32C(sums.crc32c), sums.size)
	}

	attrs, err = recordChecksums(ctx, obj, attrs, sums)
	if err != nil {
		return TransferResult{}, retryable(ErrStorage, err, "recording checksums on %s", obj.ObjectName())
	}
	return TransferResult{Object: storedObject(attrs), SourceETag: resp.Header.Get("ETag")}, nil
}

func (in TransferInput) validate() (*url.URL, error) {
	switch {
	case in.Kind != KindVideo && in.Kind != KindThumbnail:
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

// fetch GETs the source and classifies failures. The returned body fails
// with an error when the origin stalls for longer than the idle timeout.
func (a *Activities) fetch(ctx context.Context, rawURL string) (*http.Response, error) {
	settings := a.transferSettings()
	reqCtx, cancel := context.WithCancelCause(ctx)
	req, err := http.NewRequestWithContext(reqCtx, http.MethodGet, rawURL, nil)
	if err != nil {
		cancel(nil)
		return nil, permanent(ErrInvalidInput, nil, "building request for %s", RedactURL(rawURL))
	}
	req.Header.Set("Accept-Encoding", "identity") // store the bytes as served, not a re-encoding
	// The idle watchdog also covers the wait for headers.
	idle := newIdleWatchdog(settings.IdleTimeout, cancel)
	resp, err := a.Origin.Do(req)
	if err != nil {
		idle.stop()
		cause := context.Cause(reqCtx)
		cancel(nil)
		return nil, originError(ctx, cause, rawURL, err)
	}
	resp.Body = &watchedBody{ReadCloser: resp.Body, idle: idle, cancel: cancel}

	switch {
	case resp.StatusCode == http.StatusOK:
		return resp, nil
	case resp.StatusCode == http.StatusNotFound:
		resp.Body.Close()
		return nil, permanent(ErrOriginNotFound, nil, "origin answered 404 for %s", RedactURL(rawURL))
	case resp.StatusCode == http.StatusGone:
		resp.Body.Close()
		return nil, permanent(ErrLinkExpired, nil, "origin answered 410 for %s", RedactURL(rawURL))
	default:
		resp.Body.Close()
		return nil, retryable(ErrOriginUnavailable, nil, "origin answered %d for %s", resp.StatusCode, RedactURL(rawURL))
	}
}

// originError turns a failed request into a typed error whose message holds
// no query string (url.Error would print the whole signed URL).
func originError(ctx context.Context, cause error, rawURL string, err error) error {
	if safehttp.IsBlocked(err) {
		var blocked *safehttp.BlockedError
		errors.As(err, &blocked)
		return permanent(ErrBlockedDestination, nil, "fetching %s: %v", RedactURL(rawURL), blocked)
	}
	if ctx.Err() != nil {
		return ctx.Err() // the activity itself was cancelled or timed out
	}
	var uerr *url.Error
	if errors.As(err, &uerr) {
		err = uerr.Err
	}
	if cause != nil {
		err = cause // e.g. the idle watchdog fired while waiting for headers
	}
	return retryable(ErrOriginUnavailable, nil, "fetching %s: %v", RedactURL(rawURL), err)
}

type digest struct {
	size   int64
	crc32c uint32
	md5    []byte
}

// stream copies the response body into a new object. The object only comes
// into existence when Close succeeds, and Close is only reached when the body
// was read to its announced end without error.
func (a *Activities) stream(ctx context.Context, obj *storage.ObjectHandle, kind AssetKind, resp *http.Response, contentType string, meta map[string]string) (*storage.ObjectAttrs, digest, error) {
	settings := a.transferSettings()
	total := resp.ContentLength

	uploadCtx, abandonUpload := context.WithCancel(ctx)
	defer abandonUpload() // harmless after a successful Close

	w := obj.If(storage.Conditions{DoesNotExist: true}).NewWriter(uploadCtx)
	w.ContentType = contentType
	w.Metadata = meta
	w.ChunkSize = chunkSizeFor(total, settings.ChunkSize)

	src := &hashingReader{r: resp.Body, crc: crc32.New(crc32cTable), md5: md5.New()}
	stopHeartbeat := heartbeatEvery(ctx, settings.HeartbeatInterval, func() any {
		return TransferProgress{Kind: kind, Bytes: src.n.Load(), Total: total}
	})
	defer stopHeartbeat()

	_, copyErr := io.Copy(w, src)
	d := src.digest()
	switch {
	case src.err != nil:
		abandonUpload()
		if ctx.Err() != nil {
			return nil, d, ctx.Err()
		}
		cause := src.err
		if c := context.Cause(resp.Request.Context()); c != nil {
			cause = c
		}
		return nil, d, retryable(ErrIncompleteBody, nil, "reading %s failed after %d bytes: %v",
			RedactURL(resp.Request.URL.String()), d.size, cause)
	case copyErr != nil:
		abandonUpload()
		if isPreconditionFailed(copyErr) {
			return nil, d, copyErr
		}
		return nil, d, retryable(ErrStorage, nil, "uploading %s: %v", obj.ObjectName(), copyErr)
	case total >= 0 && d.size != total:
		abandonUpload()
		return nil, d, retryable(ErrIncompleteBody, nil, "origin announced %d bytes but sent %d", total, d.size)
	}

	if err := w.Close(); err != nil {
		if isPreconditionFailed(err) {
			return nil, d, err
		}
		return nil, d, retryable(ErrStorage, nil, "finalizing %s: %v", obj.ObjectName(), err)
	}
	return w.Attrs(), d, nil
}

// chunkSizeFor keeps small files (thumbnails) from allocating a full chunk:
// a file that fits in one chunk is sent in one request anyway.
func chunkSizeFor(total int64, max int) int {
	const quantum = 256 << 10 // GCS rounds chunk sizes up to 256 KiB
	if total >= 0 && total < int64(max) {
		// +1 so that reaching the end is seen within the first chunk.
		return int((total + 1 + quantum - 1) / quantum * quantum)
	}
	return max
}

// recordChecksums adds what we measured to the object's custom metadata, so
// the object itself says it was verified. It changes the metageneration, not
// the generation: the bytes are untouched.
func recordChecksums(ctx context.Context, obj *storage.ObjectHandle, attrs *storage.ObjectAttrs, d digest) (*storage.ObjectAttrs, error) {
	meta := make(map[string]string, len(attrs.Metadata)+3)
	for k, v := range attrs.Metadata {
		meta[k] = v
	}
	meta[metaSize] = strconv.FormatInt(d.size, 10)
	meta[metaCRC32C] = encodeCRC32C(d.crc32c)
	if d.md5 != nil {
		meta[metaMD5] = base64.StdEncoding.EncodeToString(d.md5)
	}
	return obj.If(storage.Conditions{GenerationMatch: attrs.Generation, MetagenerationMatch: attrs.Metageneration}).
		Update(ctx, storage.ObjectAttrsToUpdate{Metadata: meta})
}

// findStored looks for an object an earlier attempt stored for this asset.
func (a *Activities) findStored(ctx context.Context, bucket *storage.BucketHandle, in TransferInput, source string) (TransferResult, bool, error) {
	dir := a.objectDir(in.WochitVideoID)
	it := bucket.Objects(ctx, &storage.Query{Prefix: dir + string(in.Kind), Delimiter: "/"})
	for {
		attrs, err := it.Next()
		if errors.Is(err, iterator.Done) {
			return TransferResult{}, false, nil
		}
		if err != nil {
			return TransferResult{}, false, retryable(ErrStorage, nil, "listing %s: %v", dir, err)
		}
		if attrs.Name == "" || !isOurObjectName(attrs.Name, dir, in.Kind) {
			continue
		}
		res, err := a.accept(ctx, bucket.Object(attrs.Name), attrs, in, source)
		return res, true, err
	}
}

// acceptExisting handles a failed DoesNotExist precondition.
func (a *Activities) acceptExisting(ctx context.Context, obj *storage.ObjectHandle, in TransferInput, source string) (TransferResult, error) {
	attrs, err := obj.Attrs(ctx)
	if err != nil {
		return TransferResult{}, retryable(ErrStorage, nil, "reading attributes of existing %s: %v", obj.ObjectName(), err)
	}
	return a.accept(ctx, obj, attrs, in, source)
}

// accept reuses an existing object if its metadata shows it was stored for
// this very video and source; anything else under our name is a conflict a
// human must look at, so it fails without retrying.
func (a *Activities) accept(ctx context.Context, obj *storage.ObjectHandle, attrs *storage.ObjectAttrs, in TransferInput, source string) (TransferResult, error) {
	if attrs.Metadata[metaWochitVideoID] != in.WochitVideoID || attrs.Metadata[metaSourceURL] != truncate(source, maxMetadataValue) {
		return TransferResult{}, permanent(ErrObjectConflict, nil,
			"gs://%s/%s already exists and was not stored from %s for video %s", attrs.Bucket, attrs.Name, source, in.WochitVideoID)
	}
	if attrs.Metadata[metaCRC32C] == "" {
		// The attempt that stored it stopped before recording its checksums.
		// GCS verified the client's CRC32C of the upload on finalize, so its
		// own figures describe exactly the bytes that were read.
		d := digest{size: attrs.Size, crc32c: attrs.CRC32C, md5: attrs.MD5}
		var err error
		if attrs, err = recordChecksums(ctx, obj, attrs, d); err != nil {
			return TransferResult{}, retryable(ErrStorage, nil, "recording checksums on %s: %v", obj.ObjectName(), err)
		}
	}
	return TransferResult{Object: storedObject(attrs), Reused: true}, nil
}

func isPreconditionFailed(err error) bool {
	var gerr *googleapi.Error
	return errors.As(err, &gerr) && gerr.Code == http.StatusPreconditionFailed
}

// hashingReader counts and checksums every byte read through it, and
// remembers a read error so it can be told apart from a write error.
type hashingReader struct {
	r   io.Reader
	crc hash.Hash32
	md5 hash.Hash
	n   atomic.Int64
	err error
}

func (h *hashingReader) Read(p []byte) (int, error) {
	n, err := h.r.Read(p)
	if n > 0 {
		h.crc.Write(p[:n])
		h.md5.Write(p[:n])
		h.n.Add(int64(n))
	}
	if err != nil && err != io.EOF {
		h.err = err
	}
	return n, err
}

func (h *hashingReader) digest() digest {
	return digest{size: h.n.Load(), crc32c: h.crc.Sum32(), md5: h.md5.Sum(nil)}
}

// heartbeatEvery records progress now and then every interval until stopped.
// The SDK throttles heartbeats itself; this loop only keeps the hot read path
// free of heartbeat calls.
func heartbeatEvery(ctx context.Context, interval time.Duration, details func() any) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(interval)
		defer t.Stop()
		activity.RecordHeartbeat(ctx, details())
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				activity.RecordHeartbeat(ctx, details())
			}
		}
	}()
	return func() { close(done); <-finished }
}

// idleWatchdog cancels a request when no byte has arrived for a while.
type idleWatchdog struct {
	d     time.Duration
	timer *time.Timer
}

var errIdle = errors.New("origin sent nothing for too long")

func newIdleWatchdog(d time.Duration, cancel context.CancelCauseFunc) *idleWatchdog {
	return &idleWatchdog{d: d, timer: time.AfterFunc(d, func() { cancel(fmt.Errorf("%w (%s)", errIdle, d)) })}
}

func (w *idleWatchdog) kick() { w.timer.Reset(w.d) }
func (w *idleWatchdog) stop() { w.timer.Stop() }

type watchedBody struct {
	io.ReadCloser
	idle   *idleWatchdog
	cancel context.CancelCauseFunc
}

func (b *watchedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if n > 0 {
		b.idle.kick()
	}
	return n, err
}

func (b *watchedBody) Close() error {
	b.idle.stop()
	err := b.ReadCloser.Close()
	b.cancel(nil)
	return err
}

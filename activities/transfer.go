package activities

import (
	"bufio"
	"bytes"
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
	"sync"
	"sync/atomic"
	"time"

	"cloud.google.com/go/storage"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/iterator"

	"wochit-ingest/internal/crc32c"
)

// TransferInput names one file to copy into GCS.
type TransferInput struct {
	Kind          AssetKind
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
	Object     StoredObject
	SourceETag string `json:",omitempty"`
	// Parts is how many ranged parts the file was copied in (0: one stream).
	Parts int `json:",omitempty"`
	// Reused is true when an earlier attempt or run had stored the object
	// already, and this attempt only checked it.
	Reused bool `json:",omitempty"`
}

// TransferProgress is the heartbeat detail of a running transfer, shown in the
// Web UI under the pending activity. A retried attempt reads it back to know
// which parts an earlier attempt finished.
type TransferProgress struct {
	Kind     AssetKind
	Bytes    int64
	Total    int64        // -1 while the size is unknown
	PartSize int64        `json:",omitempty"`
	Parts    []PartRecord `json:",omitempty"` // finished parts
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
		return TransferResult{}, permanent(ErrInvalidInput, nil, "%v", err)
	}
	source := RedactURL(in.SourceURL)
	bucket := a.Storage.Bucket(a.Bucket)

	// An earlier attempt, or an earlier run for the same video, may have stored
	// the file already. Reuse it without touching the origin, whose link may
	// have expired since.
	if res, found, err := a.findStored(ctx, bucket, in, src, source); err != nil || found {
		return res, err
	}
	if in.ReuseOnly {
		return TransferResult{}, permanent(ErrLinkExpired, nil,
			"no %s was stored for video %s and its link has expired; the origin was not contacted", in.Kind, in.WochitVideoID)
	}

	settings := a.transferSettings()
	probe, err := a.probe(ctx, in, settings.PartSize)
	if err != nil {
		return TransferResult{}, err
	}
	defer probe.resp.Body.Close()

	limit := settings.maxBytes(in.Kind)
	if probe.total > limit {
		return TransferResult{}, permanent(ErrTooLarge, nil, "the %s is %d bytes; the limit is %d", in.Kind, probe.total, limit)
	}
	if ce := probe.resp.Header.Get("Content-Encoding"); ce != "" && ce != "identity" {
		return TransferResult{}, permanent(ErrUnsupportedContent, nil, "the origin sends the %s with Content-Encoding %q", in.Kind, ce)
	}
	body := bufio.NewReaderSize(probe.resp.Body, 64<<10)
	head, peekErr := body.Peek(sniffLen)
	if peekErr != nil && peekErr != io.EOF && peekErr != bufio.ErrBufferFull {
		return TransferResult{}, retryable(ErrIncompleteBody, nil, "reading the first bytes of %s: %v", source, readError(probe.resp, peekErr))
	}
	contentType, err := contentTypeOf(in.Kind, probe.resp.Header.Get("Content-Type"), head)
	if err != nil {
		return TransferResult{}, err
	}

	etag := probe.resp.Header.Get("ETag")
	obj := bucket.Object(a.objectName(in.Kind, in.WochitVideoID, src.Path, contentType))
	meta := map[string]string{
		metaWochitVideoID: in.WochitVideoID,
		metaVideoContext:  truncate(in.VideoContext, maxMetadataValue),
		metaSourceURL:     truncate(source, maxMetadataValue),
		metaKind:          string(in.Kind),
	}
	if etag != "" {
		meta[metaSourceETag] = truncate(etag, maxMetadataValue)
	}
	declared := declaredHashes(probe.resp.Header)

	var attrs *storage.ObjectAttrs
	var sums digest
	parts := 0
	if probe.ranged && probe.total > probe.length {
		plan := a.planParts(in, probe.total, settings.PartSize, etag, source)
		parts = plan.count()
		attrs, sums, err = a.transferParts(ctx, plan, readCloser{body, probe.resp.Body}, obj, contentType, meta, declared)
		// Verified parts are the resume point of a retry; once the final
		// object exists, or the transfer cannot succeed, they are litter.
		if err == nil || isPreconditionFailed(err) || isPermanent(err) {
			a.deleteParts(ctx, plan.dir)
		}
	} else if probe.length >= 0 && probe.length <= int64(settings.ChunkSize) {
		attrs, sums, err = a.storeSmall(ctx, obj, in.Kind, probe, body, contentType, meta, declared)
	} else {
		attrs, sums, err = a.stream(ctx, obj, in.Kind, probe, body, contentType, meta, limit, declared)
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
		return TransferResult{}, retryable(ErrIntegrity, delErr,
			"stored object %s has crc32c %s, md5 %x and %d bytes, but crc32c %s, md5 %x and %d bytes were read from the origin",
			attrs.Name, crc32c.Encode(attrs.CRC32C), attrs.MD5, attrs.Size, crc32c.Encode(sums.crc32c), sums.md5, sums.size)
	}

	if attrs.Metadata[metaCRC32C] == "" {
		if attrs, err = recordChecksums(ctx, obj, attrs, sums); err != nil {
			return TransferResult{}, retryable(ErrStorage, nil, "recording checksums on %s: %v", obj.ObjectName(), err)
		}
	}
	return TransferResult{Object: storedObject(attrs), SourceETag: etag, Parts: parts}, nil
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

// probeResult is the first response from the origin, asked for the first
// part's range: it tells whether the origin supports ranges and how large
// the file is, and its body is the start of the file either way.
type probeResult struct {
	resp   *http.Response
	total  int64 // size of the whole file; -1 when unknown
	ranged bool  // the origin answered 206 for the range
	length int64 // bytes in this response's body; -1 when unknown
}

func (a *Activities) probe(ctx context.Context, in TransferInput, partSize int64) (probeResult, error) {
	resp, err := a.get(ctx, in, 0, partSize-1)
	if err != nil {
		return probeResult{}, err
	}
	switch resp.StatusCode {
	case http.StatusPartialContent:
		r, ok := parseContentRange(resp.Header.Get("Content-Range"))
		switch {
		case !ok || r.start != 0 || r.end > partSize-1:
			resp.Body.Close()
			return probeResult{}, retryable(ErrOriginMisbehaved, nil, "origin answered the range 0-%d with Content-Range %q",
				partSize-1, resp.Header.Get("Content-Range"))
		case resp.ContentLength >= 0 && resp.ContentLength != r.end+1:
			resp.Body.Close()
			return probeResult{}, retryable(ErrOriginMisbehaved, nil, "origin sent Content-Length %d for the range %d-%d",
				resp.ContentLength, r.start, r.end)
		case r.total >= 0:
			return probeResult{resp: resp, total: r.total, ranged: true, length: r.end + 1}, nil
		}
		// A range of unknown total size cannot be planned: ask for it whole.
		resp.Body.Close()
	case http.StatusOK:
		return probeResult{resp: resp, total: resp.ContentLength, length: resp.ContentLength}, nil
	default: // 416: e.g. an empty file; ask for it whole
		resp.Body.Close()
	}
	if resp, err = a.get(ctx, in, 0, -1); err != nil {
		return probeResult{}, err
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return probeResult{}, retryable(ErrOriginMisbehaved, nil, "origin answered %d to a plain GET", resp.StatusCode)
	}
	return probeResult{resp: resp, total: resp.ContentLength, length: resp.ContentLength}, nil
}

type digest struct {
	size   int64
	crc32c uint32
	md5    []byte // nil when not computable (composite objects)
}

// stream copies one response body into a new object. The object only comes
// into existence when Close succeeds, and Close is only reached when the body
// was read to its announced end without error and matches any checksum the
// origin declared.
func (a *Activities) stream(ctx context.Context, obj *storage.ObjectHandle, kind AssetKind, probe probeResult, body io.Reader,
	contentType string, meta map[string]string, limit int64, declared sourceHashes,
) (*storage.ObjectAttrs, digest, error) {
	settings := a.transferSettings()
	total := probe.length

	uploadCtx, abandonUpload := context.WithCancel(ctx)
	defer abandonUpload() // harmless after a successful Close

	w := obj.If(storage.Conditions{DoesNotExist: true}).NewWriter(uploadCtx)
	w.ContentType = contentType
	w.Metadata = meta
	w.ChunkSize = chunkSizeFor(total, settings.ChunkSize)

	// Read at most one byte past the limit, so an oversize body without (or
	// with a false) Content-Length is noticed without downloading the rest.
	src := newHashingReader(io.LimitReader(body, limit+1), false, func(n int) { a.Metrics.addBytes(kind, int64(n)) })
	stopHeartbeat := heartbeatEvery(ctx, settings.HeartbeatInterval, func() any {
		return TransferProgress{Kind: kind, Bytes: src.n.Load(), Total: total}
	})
	defer stopHeartbeat()

	md5sum, copyErr := copyWithMD5(w, src)
	d := src.digest()
	d.md5 = md5sum
	source := RedactURL(probe.resp.Request.URL.String())
	switch {
	case src.err != nil:
		abandonUpload()
		if ctx.Err() != nil {
			return nil, d, ctx.Err()
		}
		return nil, d, retryable(ErrIncompleteBody, nil, "reading %s failed after %d bytes: %v", source, d.size, readError(probe.resp, src.err))
	case copyErr != nil:
		abandonUpload()
		if isPreconditionFailed(copyErr) || ctx.Err() != nil {
			return nil, d, errors.Join(copyErr, ctx.Err())
		}
		return nil, d, retryable(ErrStorage, nil, "uploading %s: %v", obj.ObjectName(), copyErr)
	case d.size > limit:
		abandonUpload()
		return nil, d, permanent(ErrTooLarge, nil, "the %s is larger than the limit of %d bytes", kind, limit)
	case total >= 0 && d.size != total:
		abandonUpload()
		return nil, d, retryable(ErrIncompleteBody, nil, "origin announced %d bytes but sent %d", total, d.size)
	case declared.hasCRC32C && declared.crc32c != d.crc32c, declared.md5 != nil && !bytes.Equal(declared.md5, d.md5):
		abandonUpload()
		a.Metrics.integrityFailure(kind)
		return nil, d, retryable(ErrIntegrity, nil, "the bytes read from %s do not match the checksums the origin declared", source)
	}

	if err := w.Close(); err != nil {
		if isPreconditionFailed(err) {
			return nil, d, err
		}
		return nil, d, retryable(ErrStorage, nil, "finalizing %s: %v", obj.ObjectName(), err)
	}
	return w.Attrs(), d, nil
}

// storeSmall copies a file that fits in one upload chunk. The upload would
// buffer it whole anyway, so it is read first: then its checksums go with
// the upload — GCS verifies the CRC32C and MD5 before the object exists — and
// into its metadata, in one request instead of an upload and an update.
func (a *Activities) storeSmall(ctx context.Context, obj *storage.ObjectHandle, kind AssetKind, probe probeResult, body io.Reader,
	contentType string, meta map[string]string, declared sourceHashes,
) (*storage.ObjectAttrs, digest, error) {
	source := RedactURL(probe.resp.Request.URL.String())
	data := make([]byte, probe.length)
	n, err := io.ReadFull(body, data)
	a.Metrics.addBytes(kind, int64(n))
	if err == nil {
		// Nothing may follow the announced length.
		var extra [1]byte
		if k, _ := body.Read(extra[:]); k > 0 {
			err = fmt.Errorf("more bytes than the announced %d", probe.length)
		}
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil, digest{}, ctx.Err()
		}
		return nil, digest{}, retryable(ErrIncompleteBody, nil, "reading %s failed after %d of %d bytes: %v", source, n, probe.length, readError(probe.resp, err))
	}
	sum := md5.Sum(data)
	d := digest{size: int64(n), crc32c: crc32c.Checksum(data), md5: sum[:]}
	if (declared.hasCRC32C && declared.crc32c != d.crc32c) || (declared.md5 != nil && !bytes.Equal(declared.md5, d.md5)) {
		a.Metrics.integrityFailure(kind)
		return nil, d, retryable(ErrIntegrity, nil, "the bytes read from %s do not match the checksums the origin declared", source)
	}

	verified := make(map[string]string, len(meta)+3)
	for k, v := range meta {
		verified[k] = v
	}
	verified[metaSize] = strconv.FormatInt(d.size, 10)
	verified[metaCRC32C] = crc32c.Encode(d.crc32c)
	verified[metaMD5] = base64.StdEncoding.EncodeToString(d.md5)

	uploadCtx, abandonUpload := context.WithCancel(ctx)
	defer abandonUpload()
	w := obj.If(storage.Conditions{DoesNotExist: true}).NewWriter(uploadCtx)
	w.ContentType = contentType
	w.Metadata = verified
	w.CRC32C, w.SendCRC32C, w.MD5 = d.crc32c, true, d.md5
	w.ChunkSize = chunkSizeFor(d.size, len(data)+1)
	if _, err := w.Write(data); err != nil {
		abandonUpload()
		if isPreconditionFailed(err) {
			return nil, d, err
		}
		return nil, d, retryable(ErrStorage, nil, "uploading %s: %v", obj.ObjectName(), err)
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
	meta[metaCRC32C] = crc32c.Encode(d.crc32c)
	if d.md5 != nil {
		meta[metaMD5] = base64.StdEncoding.EncodeToString(d.md5)
	}
	return obj.If(storage.Conditions{GenerationMatch: attrs.Generation, MetagenerationMatch: attrs.Metageneration}).
		Update(ctx, storage.ObjectAttrsToUpdate{Metadata: meta})
}

// findStored looks for an object an earlier attempt stored for this asset.
func (a *Activities) findStored(ctx context.Context, bucket *storage.BucketHandle, in TransferInput, src *url.URL, source string) (TransferResult, bool, error) {
	dir := a.objectDir(in.WochitVideoID)
	var attrs *storage.ObjectAttrs
	if ext := pathExtension(in.Kind, src.Path); ext != "" {
		// The name is known without asking the origin: one lookup.
		var err error
		attrs, err = bucket.Object(dir + string(in.Kind) + ext).Attrs(ctx)
		if errors.Is(err, storage.ErrObjectNotExist) {
			return TransferResult{}, false, nil
		}
		if err != nil {
			return TransferResult{}, false, retryable(ErrStorage, nil, "looking up %s: %v", dir, err)
		}
	} else {
		// The extension came from the content type: look for any.
		it := bucket.Objects(ctx, &storage.Query{Prefix: dir + string(in.Kind), Delimiter: "/"})
		for attrs == nil {
			next, err := it.Next()
			if errors.Is(err, iterator.Done) {
				return TransferResult{}, false, nil
			}
			if err != nil {
				return TransferResult{}, false, retryable(ErrStorage, nil, "listing %s: %v", dir, err)
			}
			if next.Name != "" && isOurObjectName(next.Name, dir, in.Kind) {
				attrs = next
			}
		}
	}
	res, err := a.accept(ctx, bucket.Object(attrs.Name), attrs, in, source)
	if err == nil {
		// An attempt that composed the object may have died before removing
		// its parts.
		a.deleteParts(ctx, a.partDir(in))
	}
	return res, true, err
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
		// GCS verified the upload's CRC32C (sent by the client, or by us for
		// a compose) before the object came into existence, so its own
		// figures describe exactly the bytes that were read.
		d := digest{size: attrs.Size, crc32c: attrs.CRC32C}
		if attrs.ComponentCount == 0 {
			d.md5 = attrs.MD5
		}
		var err error
		if attrs, err = recordChecksums(ctx, obj, attrs, d); err != nil {
			return TransferResult{}, retryable(ErrStorage, nil, "recording checksums on %s: %v", obj.ObjectName(), err)
		}
	}
	return TransferResult{Object: storedObject(attrs), SourceETag: attrs.Metadata[metaSourceETag], Reused: true}, nil
}

// copyBufferSize is the unit a transfer moves from origin to upload: large
// enough that the hand-offs between the HTTP body, the hashes and the upload
// pipe cost little per byte.
const copyBufferSize = 1 << 20

var copyBuffers = sync.Pool{New: func() any { b := make([]byte, copyBufferSize); return &b }}

func copyBuffered(w io.Writer, r io.Reader) (int64, error) {
	buf := copyBuffers.Get().(*[]byte)
	defer copyBuffers.Put(buf)
	return io.CopyBuffer(w, onlyReader{r}, *buf)
}

// onlyReader hides any WriterTo, so io.CopyBuffer uses the buffer.
type onlyReader struct{ io.Reader }

// md5Buffers is how many buffers are in flight between the copy and the MD5
// goroutine: enough to keep both busy, few enough to bound memory.
const md5Buffers = 4

// copyWithMD5 copies r to w and returns the MD5 of the bytes copied. MD5 is
// by far the costliest step of a single-stream transfer (about four times
// CRC32C and the copy together), so it runs in its own goroutine, one buffer
// behind the copy, instead of in line.
func copyWithMD5(w io.Writer, r io.Reader) ([]byte, error) {
	free := make(chan []byte, md5Buffers)
	for range md5Buffers {
		free <- make([]byte, copyBufferSize)
	}
	filled := make(chan []byte, md5Buffers)
	sum := make(chan []byte, 1)
	go func() {
		h := md5.New()
		for b := range filled {
			h.Write(b)
			free <- b[:cap(b)]
		}
		sum <- h.Sum(nil)
	}()

	var err error
	for {
		buf := <-free
		n, rerr := io.ReadFull(r, buf)
		if n > 0 {
			filled <- buf[:n]
			if _, werr := w.Write(buf[:n]); werr != nil {
				err = werr
				break
			}
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			break
		}
		if rerr != nil {
			err = rerr
			break
		}
	}
	close(filled)
	return <-sum, err
}

// readCloser reads through a buffer and closes the underlying body.
type readCloser struct {
	io.Reader
	io.Closer
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

// hashingReader counts and checksums every byte read through it, and
// remembers a read error so it can be told apart from a write error.
type hashingReader struct {
	r      io.Reader
	crc    hash.Hash32
	md5    hash.Hash // nil: not computed
	n      atomic.Int64
	err    error
	onRead func(int)
}

func newHashingReader(r io.Reader, withMD5 bool, onRead func(int)) *hashingReader {
	h := &hashingReader{r: r, crc: crc32.New(crc32c.Table), onRead: onRead}
	if withMD5 {
		h.md5 = md5.New()
	}
	return h
}

func (h *hashingReader) Read(p []byte) (int, error) {
	n, err := h.r.Read(p)
	if n > 0 {
		h.crc.Write(p[:n])
		if h.md5 != nil {
			h.md5.Write(p[:n])
		}
		h.n.Add(int64(n))
		if h.onRead != nil {
			h.onRead(n)
		}
	}
	if err != nil && err != io.EOF {
		h.err = err
	}
	return n, err
}

func (h *hashingReader) digest() digest {
	d := digest{size: h.n.Load(), crc32c: h.crc.Sum32()}
	if h.md5 != nil {
		d.md5 = h.md5.Sum(nil)
	}
	return d
}

// heartbeatEvery records progress now, every interval, and once more when
// stopped, so a failed attempt leaves its final progress (the parts it
// finished) for the next attempt. The SDK throttles what it sends; this loop
// only keeps the hot read path free of heartbeat calls.
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
				activity.RecordHeartbeat(ctx, details())
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

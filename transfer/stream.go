package transfer

import (
	"bytes"
	"context"
	"io"

	"github.com/wochit-ingest/wochit-ingest/contract"

	"cloud.google.com/go/storage"

	"github.com/wochit-ingest/wochit-ingest/internal/failure"
	"github.com/wochit-ingest/wochit-ingest/internal/mediacheck"
	"github.com/wochit-ingest/wochit-ingest/internal/redact"
	"github.com/wochit-ingest/wochit-ingest/transfer/origin"
)

// stream copies one response body into a new object. The object only comes
// into existence when Close succeeds, and Close is only reached when the body
// was read to its announced end without error and matches any checksum the
// origin declared; the final request carries the CRC32C of what was read
// (the storage client's automatic checksum), which GCS checks. chunk is the
// upload's chunk buffer; 0 uploads in one request that holds no buffer (and
// cannot be resent: a failure fails the attempt), to a temporary object
// that becomes the final one only through a checked compose (unbuffered.go).
func (c *copier) stream(ctx context.Context, obj *storage.ObjectHandle, probe origin.Probe, body io.Reader,
	contentType string, meta map[string]string, declared origin.Hashes, chunk int,
) (*storage.ObjectAttrs, digest, error) {
	kind, limit, total := c.dst.Kind, c.opts.MaxBytes, probe.Length

	uploadCtx, abandonUpload := context.WithCancel(ctx)
	defer abandonUpload() // harmless after a successful Close

	target := obj
	if chunk == 0 {
		target = c.unbufferedObject()
	}
	w := target.If(storage.Conditions{DoesNotExist: true}).NewWriter(uploadCtx)
	w.ContentType = contentType
	w.Metadata = meta
	w.ChunkSize = chunk
	if chunk == 0 {
		// We compare GCS's checksums of the temporary object with ours
		// before it is composed (the client's own check would fail only
		// after the object exists).
		w.DisableAutoChecksum = true
	}

	// Read at most one byte past the limit, so an oversize body without (or
	// with a false) Content-Length is noticed without downloading the rest.
	src := newHashingReader(io.LimitReader(body, limit+1), chunk == 0, func(n int) { c.countBytes(int64(n)) })
	structure := mediacheck.NewScanner(total)
	src.tee = structure
	c.progress.report(func() Progress { return Progress{Kind: kind, Bytes: src.n.Load(), Total: total} })

	var md5sum []byte
	var copyErr error
	if chunk == 0 {
		_, copyErr = io.CopyBuffer(w, onlyReader{src}, make([]byte, unbufferedCopySize))
		md5sum = src.digest().md5
	} else {
		md5sum, copyErr = copyChunked(w, src, declared.MD5 != nil)
	}
	d := src.digest()
	d.md5 = md5sum
	c.watch.stop() // the body is read: only GCS from here on
	source := redact.URL(probe.Resp.Request.URL.String())
	switch {
	case mediacheck.IsIncomplete(src.err):
		abandonUpload()
		return nil, d, c.incompleteMedia(source, src.err)
	case src.err != nil:
		abandonUpload()
		if ctx.Err() != nil {
			return nil, d, ctx.Err()
		}
		return nil, d, failure.Retryable(contract.IncompleteBody, nil, "reading %s failed after %d bytes: %v", source, d.size, origin.ReadError(probe.Resp, src.err))
	case copyErr != nil:
		abandonUpload()
		if ctx.Err() != nil {
			// Not the storage error: it names the upload session.
			return nil, d, ctx.Err()
		}
		if isPreconditionFailed(copyErr) {
			// Refused before the whole file was read: d cannot tell whether
			// the object there holds it. The next attempt looks at it.
			return nil, d, storageFailure(nil, "%s appeared while it was being uploaded", obj.ObjectName())
		}
		return nil, d, storageFailure(nil, "uploading %s: %v", obj.ObjectName(), copyErr)
	case d.size > limit:
		abandonUpload()
		return nil, d, failure.Permanent(contract.TooLarge, nil, "the %s is larger than the limit of %d bytes", kind, limit)
	case total >= 0 && d.size != total:
		abandonUpload()
		return nil, d, failure.Retryable(contract.IncompleteBody, nil, "origin announced %d bytes but sent %d", total, d.size)
	case declared.HasCRC32C && declared.CRC32C != d.crc32c, declared.MD5 != nil && !bytes.Equal(declared.MD5, d.md5):
		abandonUpload()
		c.integrityFailure()
		return nil, d, failure.Retryable(contract.IntegrityMismatch, nil, "the bytes read from %s do not match the checksums the origin declared", source)
	}
	if err := c.wholeStream(source, probe.Resp, d.size, structure); err != nil {
		abandonUpload()
		return nil, d, err
	}

	if err := w.Close(); err != nil {
		if isPreconditionFailed(err) {
			return nil, d, err
		}
		return nil, d, storageFailure(nil, "finalizing %s: %v", obj.ObjectName(), err)
	}
	if chunk == 0 {
		attrs, err := c.publishUnbuffered(ctx, target, w.Attrs(), obj, contentType, meta, d)
		return attrs, d, err
	}
	attrs := w.Attrs()
	if d.md5 == nil {
		d.md5 = wholeObjectMD5(attrs)
	}
	return attrs, d, nil
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

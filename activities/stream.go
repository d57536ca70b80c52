package activities

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"fmt"
	"hash/crc32"
	"io"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/wochit-ingest/wochit-ingest/contract"

	"cloud.google.com/go/storage"

	"github.com/wochit-ingest/wochit-ingest/internal/crc32c"
	"github.com/wochit-ingest/wochit-ingest/internal/mediacheck"
)

type digest struct {
	size   int64
	crc32c uint32
	md5    []byte // nil when not computable (composite objects)
}

// stream copies one response body into a new object. The object only comes
// into existence when Close succeeds, and Close is only reached when the body
// was read to its announced end without error and matches any checksum the
// origin declared. chunk is the upload's chunk buffer; 0 uploads in one
// request that holds no buffer (and cannot be resent: a failure fails the
// attempt).
func (a *Activities) stream(ctx context.Context, hb *heartbeat, obj *storage.ObjectHandle, kind contract.AssetKind, probe probeResult, body io.Reader,
	contentType string, meta map[string]string, limit int64, declared sourceHashes, chunk int,
) (*storage.ObjectAttrs, digest, error) {
	total := probe.length

	uploadCtx, abandonUpload := context.WithCancel(ctx)
	defer abandonUpload() // harmless after a successful Close

	w := obj.If(storage.Conditions{DoesNotExist: true}).NewWriter(uploadCtx)
	w.ContentType = contentType
	w.Metadata = meta
	w.ChunkSize = chunk
	if chunk == 0 {
		// We compare GCS's CRC32C with ours after the upload (the client's
		// own check would fail only after the object exists).
		w.DisableAutoChecksum = true
	}

	// Read at most one byte past the limit, so an oversize body without (or
	// with a false) Content-Length is noticed without downloading the rest.
	src := newHashingReader(io.LimitReader(body, limit+1), chunk == 0, func(n int) { a.Metrics.addBytes(kind, int64(n)) })
	structure := mediacheck.NewScanner(total)
	src.tee = structure
	hb.report(func() TransferProgress { return TransferProgress{Kind: kind, Bytes: src.n.Load(), Total: total} })

	var md5sum []byte
	var copyErr error
	if chunk == 0 {
		_, copyErr = io.CopyBuffer(w, onlyReader{src}, make([]byte, unbufferedCopySize))
		md5sum = src.digest().md5
	} else {
		md5sum, copyErr = copyWithMD5(w, src)
	}
	d := src.digest()
	d.md5 = md5sum
	source := RedactURL(probe.resp.Request.URL.String())
	switch {
	case mediacheck.IsIncomplete(src.err):
		abandonUpload()
		return nil, d, a.incompleteMedia(hb, kind, source, src.err)
	case src.err != nil:
		abandonUpload()
		if ctx.Err() != nil {
			return nil, d, ctx.Err()
		}
		return nil, d, retryable(contract.IncompleteBody, nil, "reading %s failed after %d bytes: %v", source, d.size, readError(probe.resp, src.err))
	case copyErr != nil:
		abandonUpload()
		if ctx.Err() != nil {
			// Not the storage error: it names the upload session.
			return nil, d, ctx.Err()
		}
		if isPreconditionFailed(copyErr) {
			return nil, d, copyErr
		}
		return nil, d, retryable(contract.StorageError, nil, "uploading %s: %v", obj.ObjectName(), copyErr)
	case d.size > limit:
		abandonUpload()
		return nil, d, permanent(contract.TooLarge, nil, "the %s is larger than the limit of %d bytes", kind, limit)
	case total >= 0 && d.size != total:
		abandonUpload()
		return nil, d, retryable(contract.IncompleteBody, nil, "origin announced %d bytes but sent %d", total, d.size)
	case declared.hasCRC32C && declared.crc32c != d.crc32c, declared.md5 != nil && !bytes.Equal(declared.md5, d.md5):
		abandonUpload()
		a.Metrics.integrityFailure(kind)
		return nil, d, retryable(contract.IntegrityMismatch, nil, "the bytes read from %s do not match the checksums the origin declared", source)
	}
	if _, err := structure.Close(); err != nil {
		abandonUpload()
		return nil, d, a.incompleteMedia(hb, kind, source, err)
	}

	if err := w.Close(); err != nil {
		if isPreconditionFailed(err) {
			return nil, d, err
		}
		return nil, d, retryable(contract.StorageError, nil, "finalizing %s: %v", obj.ObjectName(), err)
	}
	return w.Attrs(), d, nil
}

// storeSmall copies a file that fits in one upload chunk, within memory the
// caller reserved for its declared size. It is read first — into a buffer
// that grows as bytes arrive, so an origin that declares much and sends
// little holds little — and then its checksums go with the upload (GCS
// verifies the CRC32C and MD5 before the object exists) and into its
// metadata, in one request instead of an upload and an update.
func (a *Activities) storeSmall(ctx context.Context, hb *heartbeat, obj *storage.ObjectHandle, kind contract.AssetKind, probe probeResult, body io.Reader,
	contentType string, meta map[string]string, declared sourceHashes,
) (*storage.ObjectAttrs, digest, error) {
	source := RedactURL(probe.resp.Request.URL.String())
	var n atomic.Int64
	hb.report(func() TransferProgress { return TransferProgress{Kind: kind, Bytes: n.Load(), Total: probe.length} })
	data, size, err := readUpTo(body, probe.length, func(k int) {
		n.Add(int64(k))
		a.Metrics.addBytes(kind, int64(k))
	})
	if err == nil && size != probe.length {
		err = fmt.Errorf("the origin announced %d bytes", probe.length)
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil, digest{}, ctx.Err()
		}
		return nil, digest{}, retryable(contract.IncompleteBody, nil, "reading %s failed after %d of %d bytes: %v", source, size, probe.length, readError(probe.resp, err))
	}
	crc, sum := crc32.New(crc32c.Table), md5.New()
	for _, c := range data {
		crc.Write(c)
		sum.Write(c)
	}
	d := digest{size: size, crc32c: crc.Sum32(), md5: sum.Sum(nil)}
	if (declared.hasCRC32C && declared.crc32c != d.crc32c) || (declared.md5 != nil && !bytes.Equal(declared.md5, d.md5)) {
		a.Metrics.integrityFailure(kind)
		return nil, d, retryable(contract.IntegrityMismatch, nil, "the bytes read from %s do not match the checksums the origin declared", source)
	}
	if err := checkChunks(data, size); err != nil {
		return nil, d, a.incompleteMedia(hb, kind, source, err)
	}

	verified := make(map[string]string, len(meta)+3)
	for k, v := range meta {
		verified[k] = v
	}
	verified[metaSize] = strconv.FormatInt(d.size, 10)
	verified[metaCRC32C] = crc32c.Encode(d.crc32c)
	verified[metaMD5] = base64.StdEncoding.EncodeToString(d.md5)

	// One request without a chunk buffer (which would copy the file once
	// more); a transient failure is resent from data.
	for try := 1; ; try++ {
		attrs, err := uploadWhole(ctx, obj, data, contentType, verified, d)
		switch {
		case err == nil, isPreconditionFailed(err):
			return attrs, d, err
		case ctx.Err() != nil:
			return nil, d, ctx.Err()
		case try == maxPartTries || !storage.ShouldRetry(err):
			return nil, d, retryable(contract.StorageError, nil, "uploading %s: %v", obj.ObjectName(), err)
		}
		select {
		case <-time.After(time.Duration(try) * 200 * time.Millisecond):
		case <-ctx.Done():
			return nil, d, ctx.Err()
		}
	}
}

// uploadWhole stores data in one request, with its checksums for GCS to
// verify before the object exists.
func uploadWhole(ctx context.Context, obj *storage.ObjectHandle, data [][]byte, contentType string, meta map[string]string, d digest) (*storage.ObjectAttrs, error) {
	uploadCtx, abandonUpload := context.WithCancel(ctx)
	defer abandonUpload()
	w := obj.If(storage.Conditions{DoesNotExist: true}).NewWriter(uploadCtx)
	w.ContentType = contentType
	w.Metadata = meta
	w.CRC32C, w.SendCRC32C, w.MD5 = d.crc32c, true, d.md5
	w.ChunkSize = 0
	for _, c := range data {
		if _, err := w.Write(c); err != nil {
			abandonUpload()
			return nil, err
		}
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return w.Attrs(), nil
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

package transfer

import (
	"bytes"
	"context"
	"crypto/md5"
	"fmt"
	"hash/crc32"
	"io"
	"sync/atomic"
	"time"

	"github.com/wochit-ingest/wochit-ingest/contract"

	"cloud.google.com/go/storage"

	"github.com/wochit-ingest/wochit-ingest/internal/crc32c"
	"github.com/wochit-ingest/wochit-ingest/internal/failure"
	"github.com/wochit-ingest/wochit-ingest/internal/redact"
	"github.com/wochit-ingest/wochit-ingest/transfer/origin"
)

// storeSmall copies a file that fits in one upload chunk, within memory the
// caller reserved for its declared size. It is read first — into a buffer
// that grows as bytes arrive, so an origin that declares much and sends
// little holds little — and then its checksums go with the upload (GCS
// verifies the CRC32C and MD5 before the object exists) and into its
// metadata, in one request instead of an upload and an update.
func (c *copier) storeSmall(ctx context.Context, obj *storage.ObjectHandle, probe origin.Probe, body io.Reader,
	contentType string, meta map[string]string, declared origin.Hashes,
) (*storage.ObjectAttrs, digest, error) {
	kind := c.dst.Kind
	source := redact.URL(probe.Resp.Request.URL.String())
	var n atomic.Int64
	c.progress.report(func() Progress { return Progress{Kind: kind, Bytes: n.Load(), Total: probe.Length} })
	data, size, err := readUpTo(body, probe.Length, func(k int) {
		n.Add(int64(k))
		c.countBytes(int64(k))
	})
	c.watch.stop() // the body is read: only GCS from here on
	if err == nil && size != probe.Length {
		err = fmt.Errorf("the origin announced %d bytes", probe.Length)
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil, digest{}, ctx.Err()
		}
		return nil, digest{}, failure.Retryable(contract.IncompleteBody, nil, "reading %s failed after %d of %d bytes: %v", source, size, probe.Length, origin.ReadError(probe.Resp, err))
	}
	crc, sum := crc32.New(crc32c.Table), md5.New()
	for _, c := range data {
		crc.Write(c)
		sum.Write(c)
	}
	d := digest{size: size, crc32c: crc.Sum32(), md5: sum.Sum(nil)}
	if (declared.HasCRC32C && declared.CRC32C != d.crc32c) || (declared.MD5 != nil && !bytes.Equal(declared.MD5, d.md5)) {
		c.integrityFailure()
		return nil, d, failure.Retryable(contract.IntegrityMismatch, nil, "the bytes read from %s do not match the checksums the origin declared", source)
	}
	if err := checkChunks(data, size); err != nil {
		return nil, d, c.incompleteMedia(source, err)
	}

	verified := verifiedMetadata(meta, d)
	if kind == contract.KindVideo {
		if media, ok := mediaMetadata(data, size); ok {
			verified[metaMedia] = media // read here, not from the stored object (media.go)
		}
	}

	// One request without a chunk buffer (which would copy the file once
	// more); a transient failure is resent from data. GCS checks the CRC32C
	// and MD5 it declares, so it may carry the verified mark.
	for try := 1; ; try++ {
		attrs, err := uploadWhole(ctx, obj, data, contentType, verified, d)
		switch {
		case err == nil, isPreconditionFailed(err):
			return attrs, d, err
		case ctx.Err() != nil:
			return nil, d, ctx.Err()
		case try == maxPartTries || !storage.ShouldRetry(err):
			return nil, d, storageFailure(nil, "uploading %s: %v", obj.ObjectName(), err)
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

package transfer

import (
	"context"
	"crypto/rand"
	"encoding/hex"

	"github.com/wochit-ingest/wochit-ingest/contract"

	"cloud.google.com/go/storage"

	"github.com/wochit-ingest/wochit-ingest/internal/crc32c"
	"github.com/wochit-ingest/wochit-ingest/internal/failure"
	"github.com/wochit-ingest/wochit-ingest/internal/redact"
)

// An upload without a chunk buffer (the memory budget is spent) goes in one
// request whose checksum is known only once the origin's body has gone
// through it: too late to declare, so GCS would store whatever it received.
// Such an upload therefore goes to a temporary object under the parts'
// prefix. Its checksums are compared with ours there, and it becomes the
// final object through a compose that declares our CRC32C, which GCS
// checks: the final name is only ever created by a write GCS verified
// against the bytes read from the origin. The compose runs inside GCS (one
// request, no bytes through the worker) and costs no memory; the object it
// makes has no MD5 of GCS's, so it keeps the one we computed, in its
// verified mark.

// unbufferedObject is a temporary object of this attempt alone: a
// concurrent attempt's never collides with it.
func (c *copier) unbufferedObject() *storage.ObjectHandle {
	var id [8]byte
	rand.Read(id[:])
	return c.dst.Bucket.Object(c.partDir() + "unbuffered-" + hex.EncodeToString(id[:]))
}

// publishUnbuffered makes the temporary object tmp, as stored, the final
// object, if it holds what d describes; tmp is removed either way.
func (c *copier) publishUnbuffered(ctx context.Context, tmp *storage.ObjectHandle, stored *storage.ObjectAttrs,
	final *storage.ObjectHandle, contentType string, meta map[string]string, d digest,
) (*storage.ObjectAttrs, error) {
	defer func() {
		if err := deleteExact(ctx, tmp, stored); err != nil {
			c.opts.Logger.Warn("could not delete a temporary object", "object", stored.Name, "error", redact.Text(err.Error()))
		}
	}()
	if !holds(stored, d) {
		c.integrityFailure()
		return nil, failure.Retryable(contract.IntegrityMismatch, nil,
			"the upload of %s was stored with crc32c %s, md5 %x and %d bytes, but crc32c %s, md5 %x and %d bytes were read from the origin",
			final.ObjectName(), crc32c.Encode(stored.CRC32C), stored.MD5, stored.Size, crc32c.Encode(d.crc32c), d.md5, d.size)
	}
	composer := final.If(storage.Conditions{DoesNotExist: true}).
		ComposerFrom(tmp.If(storage.Conditions{GenerationMatch: stored.Generation}))
	composer.ContentType = contentType
	composer.Metadata = verifiedMetadata(meta, d)
	composer.CRC32C, composer.SendCRC32C = d.crc32c, true
	attrs, err := composer.Run(ctx)
	switch {
	case err == nil:
		return attrs, nil
	case isPreconditionFailed(err):
		return nil, err
	case ctx.Err() != nil:
		return nil, ctx.Err()
	}
	return nil, storageFailure(nil, "composing %s: %v", final.ObjectName(), err)
}

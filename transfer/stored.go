package transfer

import (
	"context"
	"encoding/base64"
	"errors"
	"strconv"

	"github.com/wochit-ingest/wochit-ingest/contract"

	"cloud.google.com/go/storage"
	"google.golang.org/api/iterator"

	"github.com/wochit-ingest/wochit-ingest/internal/crc32c"
)

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
func (c *copier) findStored(ctx context.Context) (Result, bool, error) {
	bucket, kind, dir := c.dst.Bucket, c.dst.Kind, c.objectDir()
	var attrs *storage.ObjectAttrs
	if ext := pathExtension(kind, c.srcURL.Path); ext != "" {
		// The name is known without asking the origin: one lookup.
		var err error
		attrs, err = bucket.Object(dir + string(kind) + ext).Attrs(ctx)
		if errors.Is(err, storage.ErrObjectNotExist) {
			return Result{}, false, nil
		}
		if err != nil {
			return Result{}, false, retryable(contract.StorageError, nil, "looking up %s: %v", dir, err)
		}
	} else {
		// The extension came from the content type: look for any.
		it := bucket.Objects(ctx, &storage.Query{Prefix: dir + string(kind), Delimiter: "/"})
		for attrs == nil {
			next, err := it.Next()
			if errors.Is(err, iterator.Done) {
				return Result{}, false, nil
			}
			if err != nil {
				return Result{}, false, retryable(contract.StorageError, nil, "listing %s: %v", dir, err)
			}
			if next.Name != "" && isOurObjectName(next.Name, dir, kind) {
				attrs = next
			}
		}
	}
	res, err := c.accept(ctx, bucket.Object(attrs.Name), attrs)
	if err == nil {
		// An attempt that composed the object may have died before removing
		// its parts.
		c.deleteParts(ctx, c.partDir())
	}
	return res, true, err
}

// acceptExisting handles a failed DoesNotExist precondition.
func (c *copier) acceptExisting(ctx context.Context, obj *storage.ObjectHandle) (Result, error) {
	attrs, err := obj.Attrs(ctx)
	if err != nil {
		return Result{}, retryable(contract.StorageError, nil, "reading attributes of existing %s: %v", obj.ObjectName(), err)
	}
	return c.accept(ctx, obj, attrs)
}

// accept reuses an existing object if its metadata shows it was stored for
// this very video and source; anything else under our name is a conflict a
// human must look at, so it fails without retrying.
func (c *copier) accept(ctx context.Context, obj *storage.ObjectHandle, attrs *storage.ObjectAttrs) (Result, error) {
	if attrs.Metadata[metaWochitVideoID] != c.dst.WochitVideoID || !c.sameSource(attrs.Metadata[metaSourceURL]) {
		return Result{}, permanent(contract.ObjectConflict, nil,
			"gs://%s/%s already exists and was not stored from %s for video %s", attrs.Bucket, attrs.Name, c.source, c.dst.WochitVideoID)
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
			return Result{}, retryable(contract.StorageError, nil, "recording checksums on %s: %v", obj.ObjectName(), err)
		}
	}
	return Result{Object: storedObject(attrs), SourceETag: attrs.Metadata[metaSourceETag], Reused: true}, nil
}

package activities

import (
	"context"
	"encoding/base64"
	"errors"
	"net/url"
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
			return TransferResult{}, false, retryable(contract.StorageError, nil, "looking up %s: %v", dir, err)
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
				return TransferResult{}, false, retryable(contract.StorageError, nil, "listing %s: %v", dir, err)
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
		return TransferResult{}, retryable(contract.StorageError, nil, "reading attributes of existing %s: %v", obj.ObjectName(), err)
	}
	return a.accept(ctx, obj, attrs, in, source)
}

// accept reuses an existing object if its metadata shows it was stored for
// this very video and source; anything else under our name is a conflict a
// human must look at, so it fails without retrying.
func (a *Activities) accept(ctx context.Context, obj *storage.ObjectHandle, attrs *storage.ObjectAttrs, in TransferInput, source string) (TransferResult, error) {
	if attrs.Metadata[metaWochitVideoID] != in.WochitVideoID || attrs.Metadata[metaSourceURL] != fitMetadata(source, maxMetadataText) {
		return TransferResult{}, permanent(contract.ObjectConflict, nil,
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
			return TransferResult{}, retryable(contract.StorageError, nil, "recording checksums on %s: %v", obj.ObjectName(), err)
		}
	}
	return TransferResult{Object: storedObject(attrs), SourceETag: attrs.Metadata[metaSourceETag], Reused: true}, nil
}

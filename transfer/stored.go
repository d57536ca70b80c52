package transfer

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"strconv"

	"github.com/wochit-ingest/wochit-ingest/contract"

	"cloud.google.com/go/storage"
	"google.golang.org/api/iterator"

	"github.com/wochit-ingest/wochit-ingest/internal/crc32c"
	"github.com/wochit-ingest/wochit-ingest/internal/failure"
	"github.com/wochit-ingest/wochit-ingest/internal/redact"
)

// verifiedMetadata is meta with what we measured added: the mark that the
// object holds exactly the bytes read from the origin. Only a write GCS
// checked against our CRC32C, or a comparison of GCS's own checksums with
// ours, may set it.
func verifiedMetadata(meta map[string]string, d digest) map[string]string {
	out := make(map[string]string, len(meta)+3)
	for k, v := range meta {
		out[k] = v
	}
	out[metaSize] = strconv.FormatInt(d.size, 10)
	out[metaCRC32C] = crc32c.Encode(d.crc32c)
	if d.md5 != nil {
		out[metaMD5] = base64.StdEncoding.EncodeToString(d.md5)
	}
	return out
}

// recordChecksums marks an object whose GCS checksums were found equal to
// ours verified. It changes the metageneration, not the generation: the
// bytes are untouched.
func recordChecksums(ctx context.Context, obj *storage.ObjectHandle, attrs *storage.ObjectAttrs, d digest) (*storage.ObjectAttrs, error) {
	return obj.If(storage.Conditions{GenerationMatch: attrs.Generation, MetagenerationMatch: attrs.Metageneration}).
		Update(ctx, storage.ObjectAttrsToUpdate{Metadata: verifiedMetadata(attrs.Metadata, d)})
}

// verified reports whether an object carries our mark, and the mark agrees
// with GCS's own figures for its bytes.
func verified(attrs *storage.ObjectAttrs) bool {
	m := attrs.Metadata
	return m[metaCRC32C] != "" && m[metaCRC32C] == crc32c.Encode(attrs.CRC32C) && m[metaSize] == strconv.FormatInt(attrs.Size, 10) &&
		(m[metaMD5] == "" || len(attrs.MD5) == 0 || m[metaMD5] == base64.StdEncoding.EncodeToString(attrs.MD5))
}

// holds reports whether GCS's checksums of an object are those of the
// bytes we read: size, CRC32C, and MD5 where both have one.
func holds(attrs *storage.ObjectAttrs, d digest) bool {
	return attrs.Size == d.size && attrs.CRC32C == d.crc32c && (d.md5 == nil || len(attrs.MD5) == 0 || bytes.Equal(attrs.MD5, d.md5))
}

// deleteExact deletes the generation and metageneration attrs describe, and
// nothing newer: a later generation, or the same one marked verified since.
func deleteExact(ctx context.Context, obj *storage.ObjectHandle, attrs *storage.ObjectAttrs) error {
	return obj.If(storage.Conditions{GenerationMatch: attrs.Generation, MetagenerationMatch: attrs.Metageneration}).Delete(ctx)
}

// findStored looks for an object an earlier attempt stored for this asset.
// A verified one is reused. One that is not was stored but never proven
// whole — its attempt may have found other bytes than it read and failed to
// remove them (a retention policy or hold, no delete permission, a 5xx, its
// context ending, its worker dying between finalize and compare) — so it
// is never taken as it stands: it is removed and the file copied again, or,
// on a reuse-only run, the copy fails.
func (c *copier) findStored(ctx context.Context) (Result, bool, error) {
	bucket, kind, dir := c.dst.Bucket, c.dst.Kind, c.objectDir()
	var attrs *storage.ObjectAttrs
	if ext := pathExtension(kind, c.srcURL.Path); ext != "" {
		// The name is known without asking the origin: one lookup.
		var err error
		attrs, err = bucket.Object(dir + string(kind) + ext).Attrs(ctx)
		if errors.Is(err, storage.ErrObjectNotExist) && !bucketInaccessible(err) {
			return Result{}, false, nil
		}
		if err != nil {
			return Result{}, false, storageFailure(nil, "looking up %s: %v", dir, err)
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
				return Result{}, false, storageFailure(nil, "listing %s: %v", dir, err)
			}
			if next.Name != "" && isOurObjectName(next.Name, dir, kind) {
				attrs = next
			}
		}
	}
	if err := c.ours(attrs); err != nil {
		return Result{}, true, err
	}
	obj := bucket.Object(attrs.Name)
	if !verified(attrs) {
		if c.opts.ReuseOnly {
			return Result{}, true, failure.Permanent(contract.LinkExpired, nil,
				"gs://%s/%s was stored by an earlier attempt but never verified against the origin's bytes, and the link has expired, so it cannot be copied again",
				attrs.Bucket, attrs.Name)
		}
		// Only what was looked at goes: not a newer generation, nor this
		// one if another attempt verified it since. Should the delete fail,
		// the new copy finds the object at its finalize and compares.
		if err := deleteExact(ctx, obj, attrs); err != nil {
			c.opts.Logger.Warn("could not remove an unverified object; the new copy will be compared with it", "object", attrs.Name, "error", redact.Text(err.Error()))
		} else {
			c.opts.Logger.Info("removed an object an earlier attempt stored but never verified; copying again", "object", attrs.Name)
		}
		return Result{}, false, nil
	}
	// An attempt that composed the object may have died before removing
	// its parts.
	c.deleteParts(ctx, c.partDir())
	return reused(attrs), true, nil
}

// acceptExisting handles a failed DoesNotExist precondition at the end of
// an upload or compose whose bytes, read from the origin, d describes:
// another attempt (one whose heartbeat timed out but which kept running)
// stored the object first. GCS's checksums of it must be ours for it to be
// taken, unless that attempt marked it verified against its own read.
func (c *copier) acceptExisting(ctx context.Context, obj *storage.ObjectHandle, d digest) (Result, error) {
	attrs, err := obj.Attrs(ctx)
	if errors.Is(err, storage.ErrObjectNotExist) {
		return Result{}, storageFailure(nil, "%s existed when this attempt stored it, and was removed since; the next attempt looks again", obj.ObjectName())
	}
	if err != nil {
		return Result{}, storageFailure(nil, "reading attributes of existing %s: %v", obj.ObjectName(), err)
	}
	if err := c.ours(attrs); err != nil {
		return Result{}, err
	}
	switch {
	case holds(attrs, d):
		if !verified(attrs) {
			if attrs, err = recordChecksums(ctx, obj, attrs, d); err != nil {
				return Result{}, storageFailure(nil, "recording checksums on %s: %v", obj.ObjectName(), err)
			}
		}
	case verified(attrs):
		// Proven whole by the attempt that stored it; the origin served that
		// attempt other bytes than this one.
		c.opts.Logger.Warn("the object another attempt stored and verified differs from what this attempt read; keeping it",
			"object", attrs.Name, "storedCrc32c", crc32c.Encode(attrs.CRC32C), "readCrc32c", crc32c.Encode(d.crc32c))
	default:
		c.integrityFailure()
		delErr := deleteExact(ctx, obj, attrs)
		return Result{}, failure.Retryable(contract.IntegrityMismatch, delErr,
			"%s, stored unverified by another attempt, has crc32c %s and %d bytes, but crc32c %s and %d bytes were read from the origin",
			attrs.Name, crc32c.Encode(attrs.CRC32C), attrs.Size, crc32c.Encode(d.crc32c), d.size)
	}
	return reused(attrs), nil
}

// ours fails, without retrying, for an object under our name that was not
// stored for this very video and source: a conflict a human must look at.
func (c *copier) ours(attrs *storage.ObjectAttrs) error {
	if attrs.Metadata[metaWochitVideoID] != c.dst.WochitVideoID || !c.sameSource(attrs.Metadata[metaSourceURL]) {
		return failure.Permanent(contract.ObjectConflict, nil,
			"gs://%s/%s already exists and was not stored from %s for video %s", attrs.Bucket, attrs.Name, c.source, c.dst.WochitVideoID)
	}
	return nil
}

func reused(attrs *storage.ObjectAttrs) Result {
	return Result{Object: storedObject(attrs), SourceETag: attrs.Metadata[metaSourceETag], Reused: true}
}

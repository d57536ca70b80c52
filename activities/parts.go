package activities

import (
	"context"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/wochit-ingest/wochit-ingest/contract"

	"cloud.google.com/go/storage"
	"go.temporal.io/sdk/activity"
	"golang.org/x/sync/errgroup"

	"github.com/wochit-ingest/wochit-ingest/internal/crc32c"
	"github.com/wochit-ingest/wochit-ingest/internal/mediacheck"
)

// transferParts copies the file part by part and composes the final object.
// part0, when not nil, is the probe's body holding exactly part 0.
func (a *Activities) transferParts(ctx context.Context, hb *heartbeat, plan partPlan, previous TransferProgress, part0 io.ReadCloser,
	final *storage.ObjectHandle, contentType string, meta map[string]string, declared sourceHashes,
) (*storage.ObjectAttrs, digest, error) {
	settings := a.transferSettings()
	bucket := a.Storage.Bucket(a.Bucket)

	// The earlier attempt's record of its parts counts only for the same
	// parts of the same version.
	var recorded []PartRecord
	if previous.resumable() && previous.Validator == plan.validator && previous.PartSize == plan.size && previous.Total == plan.total {
		recorded = previous.Parts
	}
	done, err := a.verifiedParts(ctx, bucket, plan, recorded)
	if err != nil {
		return nil, digest{}, err
	}
	if _, ok := done[0]; ok && part0 != nil {
		// Part 0 is kept: stop the probe's body now rather than let the
		// origin push bytes nobody will read.
		part0.Close()
		part0 = nil
	}
	tracker := &partTracker{plan: plan, done: done}
	hb.report(tracker.progress)

	type job struct {
		index int
		body  io.Reader // the probe's body for part 0; nil: request the range
	}
	jobs := make(chan job)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		defer close(jobs)
		for i := range plan.count() {
			if _, ok := done[i]; ok {
				continue
			}
			j := job{index: i}
			if i == 0 && part0 != nil {
				j.body = io.LimitReader(part0, plan.size)
			}
			select {
			case jobs <- j:
			case <-gctx.Done():
				return nil
			}
		}
		return nil
	})
	for range max(settings.PartConcurrency, 1) {
		g.Go(func() error {
			for j := range jobs {
				if err := a.copyPart(gctx, bucket, plan, tracker, j.index, j.body); err != nil {
					return err
				}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		if ctx.Err() != nil {
			return nil, digest{}, ctx.Err()
		}
		if tracker.staleness() == versionChanged {
			// Parts of the old version can never be used.
			a.deleteParts(ctx, plan.dir)
		}
		return nil, digest{}, err
	}

	// Every part is verified and nothing is composed yet: the file's
	// structure is checked through ranged reads of its box headers.
	if _, err := mediacheck.Check(partsReader{ctx: ctx, bucket: bucket, plan: plan}, plan.total); err != nil {
		if ctx.Err() != nil {
			return nil, digest{}, ctx.Err()
		}
		if !mediacheck.IsIncomplete(err) {
			return nil, digest{}, retryable(contract.StorageError, nil, "reading the parts to check the file's structure: %v", err)
		}
		// When the origin finishes the file, it is another version.
		tracker.invalidate(versionChanged)
		a.deleteParts(ctx, plan.dir)
		return nil, digest{}, a.incompleteMedia(hb, plan.in.Kind, plan.source, err)
	}

	// The CRC32C of the whole file, combined from the parts'.
	var sources []composeSource
	var combined uint32
	for i := range plan.count() {
		_, length := plan.bounds(i)
		crc := tracker.done[i]
		sources = append(sources, composeSource{obj: bucket.Object(plan.name(i)), crc: crc, size: length})
		if i == 0 {
			combined = crc
		} else {
			combined = crc32c.Combine(combined, crc, length)
		}
	}
	d := digest{size: plan.total, crc32c: combined}
	if declared.hasCRC32C && declared.crc32c != combined {
		a.Metrics.integrityFailure(plan.in.Kind)
		a.deleteParts(ctx, plan.dir)
		return nil, d, retryable(contract.IntegrityMismatch, nil, "the parts read from %s do not add up to the CRC32C the origin declared", plan.source)
	}
	attrs, err := a.compose(ctx, bucket, plan, sources, final, contentType, meta)
	return attrs, d, err
}

// copyPart copies part i, retrying transient failures a few times.
func (a *Activities) copyPart(ctx context.Context, bucket *storage.BucketHandle, plan partPlan, tracker *partTracker, i int, body io.Reader) error {
	for try := 1; ; try++ {
		err := a.copyPartOnce(ctx, bucket, plan, tracker, i, body)
		body = nil // a retry requests the range again
		if err == nil || isPermanent(err) || ctx.Err() != nil || try == maxPartTries || tracker.staleness() != planHolds {
			return err
		}
		activity.GetLogger(ctx).Warn("part failed; retrying it", "part", i, "try", try, "error", err)
		select {
		case <-time.After(time.Duration(try) * time.Second):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (a *Activities) copyPartOnce(ctx context.Context, bucket *storage.BucketHandle, plan partPlan, tracker *partTracker, i int, body io.Reader) error {
	offset, length := plan.bounds(i)
	if body == nil {
		resp, err := a.get(ctx, plan.in, offset, offset+length-1, plan.validator)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if stale, err := checkPartResponse(resp, plan, offset, length); err != nil {
			tracker.invalidate(stale)
			return err
		}
		body = resp.Body
	}

	obj := bucket.Object(plan.name(i))
	uploadCtx, abandonUpload := context.WithCancel(ctx)
	defer abandonUpload()
	w := obj.If(storage.Conditions{DoesNotExist: true}).NewWriter(uploadCtx)
	// No chunk buffer: a part that fails is fetched again rather than
	// resent, so parts cost no memory beyond the copy buffer.
	w.ChunkSize = 0
	// We compare GCS's CRC32C with ours after the upload, and the compose
	// request carries the combined CRC32C for GCS to check once more.
	w.DisableAutoChecksum = true
	w.ContentType = "application/octet-stream"
	w.Metadata = plan.partMetadata(i)
	var read int64
	src := newHashingReader(io.LimitReader(body, length), false, func(n int) {
		read += int64(n)
		tracker.read(int64(n))
		a.Metrics.addBytes(plan.in.Kind, int64(n))
	})
	defer func() { tracker.read(-read) }() // an unfinished part's bytes no longer count

	_, copyErr := copyBuffered(w, src)
	d := src.digest()
	var finalizeErr error
	switch {
	case src.err != nil:
		abandonUpload()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return retryable(contract.IncompleteBody, nil, "reading part %d of %s failed after %d bytes: %v", i, plan.source, d.size, src.err)
	case copyErr != nil:
		abandonUpload()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		finalizeErr = copyErr
	case d.size != length:
		abandonUpload()
		return retryable(contract.IncompleteBody, nil, "part %d of %s ended after %d of %d bytes", i, plan.source, d.size, length)
	default:
		finalizeErr = w.Close()
	}
	if isPreconditionFailed(finalizeErr) {
		crc, err := a.settleConcurrentPart(ctx, obj, plan, i)
		if err != nil {
			return err
		}
		tracker.finish(i, crc, read)
		read = 0
		return nil
	}
	if finalizeErr != nil {
		return retryable(contract.StorageError, nil, "uploading part %d: %v", i, finalizeErr)
	}
	attrs := w.Attrs()
	if attrs.Size != length || attrs.CRC32C != d.crc32c {
		a.Metrics.integrityFailure(plan.in.Kind)
		_ = obj.If(storage.Conditions{GenerationMatch: attrs.Generation}).Delete(ctx)
		return retryable(contract.IntegrityMismatch, nil, "part %d was stored with crc32c %s and %d bytes, but %s and %d bytes were read",
			i, crc32c.Encode(attrs.CRC32C), attrs.Size, crc32c.Encode(d.crc32c), length)
	}
	// Mark the part verified; a part without the mark is never reused.
	marked := make(map[string]string, len(attrs.Metadata)+1)
	for k, v := range attrs.Metadata {
		marked[k] = v
	}
	marked[metaCRC32C] = crc32c.Encode(d.crc32c)
	if _, err := obj.If(storage.Conditions{GenerationMatch: attrs.Generation, MetagenerationMatch: attrs.Metageneration}).
		Update(ctx, storage.ObjectAttrsToUpdate{Metadata: marked}); err != nil {
		return retryable(contract.StorageError, nil, "marking part %d verified: %v", i, err)
	}
	tracker.finish(i, d.crc32c, read)
	read = 0
	return nil
}

// settleConcurrentPart handles a part object that appeared while we were
// writing it: another attempt — one whose heartbeat timed out but which kept
// running — wrote it. If that attempt verified it for this very plan, it is
// as good as ours and is kept. Otherwise it is removed, but only the
// generation that was read, so a part verified in the meantime survives,
// and the part is fetched again.
func (a *Activities) settleConcurrentPart(ctx context.Context, obj *storage.ObjectHandle, plan partPlan, i int) (uint32, error) {
	attrs, err := obj.Attrs(ctx)
	switch {
	case errors.Is(err, storage.ErrObjectNotExist):
		return 0, retryable(contract.StorageError, nil, "part %d was written concurrently and removed since; fetching it again", i)
	case err != nil:
		return 0, retryable(contract.StorageError, nil, "reading the concurrently written part %d: %v", i, err)
	case plan.verifiedPart(i, attrs):
		return attrs.CRC32C, nil
	}
	err = obj.If(storage.Conditions{GenerationMatch: attrs.Generation}).Delete(ctx)
	if err != nil && !errors.Is(err, storage.ErrObjectNotExist) && !isPreconditionFailed(err) {
		return 0, retryable(contract.StorageError, nil, "removing the unverified part %d: %v", i, err)
	}
	return 0, retryable(contract.StorageError, nil, "part %d was written concurrently and is not verified; fetching it again", i)
}

// checkPartResponse insists on exactly the requested range of the plan's
// version of the file. It also says when the plan itself no longer holds:
// a 200 to If-Range, or other validators or content headers, mean the file
// changed; a shorter range of the same file means the origin caps ranges.
func checkPartResponse(resp *http.Response, plan partPlan, offset, length int64) (staleness, error) {
	if resp.StatusCode == http.StatusOK {
		return versionChanged, retryable(contract.OriginMisbehaved, nil, "the file changed during the transfer: the origin answered 200 to a range request with If-Range %s",
			plan.validator)
	}
	if resp.StatusCode != http.StatusPartialContent {
		return planHolds, retryable(contract.OriginMisbehaved, nil, "origin answered %d instead of 206 to a range request", resp.StatusCode)
	}
	if what := versionOf(resp.Header).changedFrom(plan.version); what != "" {
		return versionChanged, retryable(contract.OriginMisbehaved, nil, "the file changed during the transfer: part %d-%d came with %s",
			offset, offset+length-1, what)
	}
	r, ok := parseContentRange(resp.Header.Get("Content-Range"))
	if ok && r.start == offset && r.end < offset+length-1 && r.total == plan.total {
		return rangesCapped, retryable(contract.OriginMisbehaved, nil, "origin served %d bytes of the %d-byte range at %d; the next attempt plans shorter parts",
			r.end-r.start+1, length, offset)
	}
	if !ok || r.start != offset || r.end != offset+length-1 || r.total != plan.total {
		return planHolds, retryable(contract.OriginMisbehaved, nil, "origin answered the range %d-%d/%d with Content-Range %q",
			offset, offset+length-1, plan.total, resp.Header.Get("Content-Range"))
	}
	if resp.ContentLength >= 0 && resp.ContentLength != length {
		return planHolds, retryable(contract.OriginMisbehaved, nil, "origin sent Content-Length %d for a %d-byte range", resp.ContentLength, length)
	}
	return planHolds, nil
}

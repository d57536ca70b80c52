package transfer

import (
	"context"
	"errors"
	"io"
	"maps"
	"time"

	"github.com/wochit-ingest/wochit-ingest/contract"

	"cloud.google.com/go/storage"
	"golang.org/x/sync/errgroup"

	"github.com/wochit-ingest/wochit-ingest/internal/crc32c"
	"github.com/wochit-ingest/wochit-ingest/internal/failure"
	"github.com/wochit-ingest/wochit-ingest/internal/mediacheck"
	"github.com/wochit-ingest/wochit-ingest/transfer/origin"
)

// copyParts copies the file part by part and composes the final object.
// part0, when not nil, is the probe's body holding exactly part 0.
func (c *copier) copyParts(ctx context.Context, plan partPlan, part0 io.ReadCloser,
	final *storage.ObjectHandle, contentType string, meta map[string]string, declared origin.Hashes,
) (*storage.ObjectAttrs, digest, error) {
	tracker, kept, err := c.resumeParts(ctx, plan)
	if err != nil {
		return nil, digest{}, err
	}
	// Under a validator that is not opaque (Last-Modified, an ETag made of
	// the modification time) the kept parts may be of another version of
	// the same size and date: each is read again from the origin and
	// compared before it counts (recheckPart).
	recheck := !plan.version.Opaque()
	if _, ok := kept[0]; ok && part0 != nil && !recheck {
		// Part 0 is kept: stop the probe's body now rather than let the
		// origin push bytes nobody will read.
		part0.Close()
		part0 = nil
	}
	c.progress.report(tracker.progress)

	err = c.runParts(ctx, plan, tracker, kept, recheck, part0)
	c.watch.stop() // every part is read: only GCS from here on
	if err != nil {
		if ctx.Err() != nil {
			return nil, digest{}, ctx.Err()
		}
		if tracker.staleness() == versionChanged {
			// Parts of the old version can never be used.
			c.deleteParts(ctx, plan.dir)
		}
		return nil, digest{}, err
	}
	if err := c.checkPartsStructure(ctx, plan, tracker); err != nil {
		return nil, digest{}, err
	}
	return c.composeParts(ctx, plan, tracker, final, contentType, meta, declared)
}

// resumeParts finds the parts verified by earlier attempts that still count
// (kept): the earlier attempt's record of its parts counts only for the same
// parts of the same version. The tracker starts from them.
func (c *copier) resumeParts(ctx context.Context, plan partPlan) (*partTracker, map[int]uint32, error) {
	previous := c.opts.Resume
	var recorded []PartRecord
	if previous.resumable() && previous.Validator == plan.validator && previous.PartSize == plan.size && previous.Total == plan.total {
		recorded = previous.Parts
	}
	resumeWatch := c.watch.hold() // listing parts waits on GCS
	done, err := c.verifiedParts(ctx, plan, recorded)
	resumeWatch()
	if err != nil {
		return nil, nil, err
	}
	kept := maps.Clone(done) // done is the tracker's from here on
	return &partTracker{kind: c.dst.Kind, plan: plan, done: done}, kept, nil
}

// partJob is one part for a worker of runParts.
type partJob struct {
	index   int
	body    io.Reader // the probe's body for part 0; nil: request the range
	recheck bool      // a kept part to compare with the origin's bytes
}

// runParts copies the parts not kept (and rechecks the kept ones when
// recheck), PartConcurrency at a time; the first failure stops the rest.
func (c *copier) runParts(ctx context.Context, plan partPlan, tracker *partTracker, kept map[int]uint32, recheck bool, part0 io.ReadCloser) error {
	jobs := make(chan partJob)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		defer close(jobs)
		for i := range plan.count() {
			_, ok := kept[i]
			if ok && !recheck {
				continue
			}
			j := partJob{index: i, recheck: ok}
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
	for range max(c.opts.PartConcurrency, 1) {
		g.Go(func() error {
			for j := range jobs {
				copyOrCheck := c.copyPart
				if j.recheck {
					copyOrCheck = c.recheckPart
				}
				if err := copyOrCheck(gctx, plan, tracker, j.index, j.body); err != nil {
					return err
				}
			}
			return nil
		})
	}
	return g.Wait()
}

// checkPartsStructure checks the file's structure once every part is
// verified and nothing is composed yet, through ranged reads of its box
// headers.
func (c *copier) checkPartsStructure(ctx context.Context, plan partPlan, tracker *partTracker) error {
	_, err := mediacheck.Check(partsReader{ctx: ctx, bucket: c.dst.Bucket, plan: plan}, plan.total)
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if !mediacheck.IsIncomplete(err) {
		return storageFailure(nil, "reading the parts to check the file's structure: %v", err)
	}
	// When the origin finishes the file, it is another version.
	tracker.invalidate(versionChanged)
	c.deleteParts(ctx, plan.dir)
	return c.incompleteMedia(plan.source, err)
}

// composeParts composes the verified parts into the final object, under
// the CRC32C of the whole file combined from the parts'.
func (c *copier) composeParts(ctx context.Context, plan partPlan, tracker *partTracker,
	final *storage.ObjectHandle, contentType string, meta map[string]string, declared origin.Hashes,
) (*storage.ObjectAttrs, digest, error) {
	var sources []composeSource
	var combined uint32
	for i := range plan.count() {
		_, length := plan.bounds(i)
		crc := tracker.done[i]
		sources = append(sources, composeSource{obj: c.dst.Bucket.Object(plan.name(i)), crc: crc, size: length})
		if i == 0 {
			combined = crc
		} else {
			combined = crc32c.Combine(combined, crc, length)
		}
	}
	d := digest{size: plan.total, crc32c: combined}
	if declared.HasCRC32C && declared.CRC32C != combined {
		c.integrityFailure()
		c.deleteParts(ctx, plan.dir)
		return nil, d, failure.Retryable(contract.IntegrityMismatch, nil, "the parts read from %s do not add up to the CRC32C the origin declared", plan.source)
	}
	// GCS checks the compose against the combined CRC32C, so the object
	// carries the verified mark from its first moment.
	attrs, err := c.compose(ctx, plan, sources, final, contentType, verifiedMetadata(meta, d))
	return attrs, d, err
}

// copyPart copies part i, retrying transient failures a few times.
func (c *copier) copyPart(ctx context.Context, plan partPlan, tracker *partTracker, i int, body io.Reader) error {
	for try := 1; ; try++ {
		err := c.copyPartOnce(ctx, plan, tracker, i, body)
		body = nil // a retry requests the range again
		if err == nil || isPermanent(err) || ctx.Err() != nil || try == maxPartTries || tracker.staleness() != planHolds {
			return err
		}
		c.opts.Logger.Warn("part failed; retrying it", "part", i, "try", try, "error", err)
		select {
		case <-time.After(time.Duration(try) * time.Second):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (c *copier) copyPartOnce(ctx context.Context, plan partPlan, tracker *partTracker, i int, body io.Reader) error {
	offset, length := plan.bounds(i)
	if body == nil {
		fetched, err := c.fetchPart(ctx, plan, tracker, offset, length)
		if err != nil {
			return err
		}
		defer fetched.Close()
		body = fetched
	}

	obj := c.dst.Bucket.Object(plan.name(i))
	uploadCtx, abandonUpload := context.WithCancel(ctx)
	defer abandonUpload()
	w := newPartWriter(uploadCtx, obj, plan, i)
	var read int64
	src := newHashingReader(io.LimitReader(body, length), false, func(n int) {
		read += int64(n)
		tracker.read(int64(n))
		c.countBytes(int64(n))
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
		return failure.Retryable(contract.IncompleteBody, nil, "reading part %d of %s failed after %d bytes: %v", i, plan.source, d.size, src.err)
	case copyErr != nil:
		abandonUpload()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		finalizeErr = copyErr
	case d.size != length:
		abandonUpload()
		return failure.Retryable(contract.IncompleteBody, nil, "part %d of %s ended after %d of %d bytes", i, plan.source, d.size, length)
	default:
		finalizeErr = w.Close()
	}
	crc, err := c.finishPart(ctx, obj, w, plan, i, d, finalizeErr)
	if err != nil {
		return err
	}
	tracker.finish(i, crc, read)
	read = 0
	return nil
}

// fetchPart requests part i's range from the origin and holds the answer
// to the plan. The body is the caller's to close.
func (c *copier) fetchPart(ctx context.Context, plan partPlan, tracker *partTracker, offset, length int64) (io.ReadCloser, error) {
	resp, err := c.origin.Get(ctx, offset, offset+length-1, plan.validator)
	if err != nil {
		return nil, err
	}
	if err := c.checkPart(tracker, resp, plan, offset, length); err != nil {
		resp.Body.Close()
		return nil, err
	}
	return resp.Body, nil
}

// newPartWriter starts the upload of part i; cancelling ctx abandons it.
func newPartWriter(ctx context.Context, obj *storage.ObjectHandle, plan partPlan, i int) *storage.Writer {
	w := obj.If(storage.Conditions{DoesNotExist: true}).NewWriter(ctx)
	// No chunk buffer: a part that fails is fetched again rather than
	// resent, so parts cost no memory beyond the copy buffer.
	w.ChunkSize = 0
	// We compare GCS's CRC32C with ours after the upload, and the compose
	// request carries the combined CRC32C for GCS to check once more.
	w.DisableAutoChecksum = true
	w.ContentType = "application/octet-stream"
	w.Metadata = plan.partMetadata(i)
	return w
}

// finishPart settles part i's upload once the part was read whole (d): a
// part another attempt wrote meanwhile is settled, ours is compared with
// what was read and marked verified. It returns the part's CRC32C.
func (c *copier) finishPart(ctx context.Context, obj *storage.ObjectHandle, w *storage.Writer, plan partPlan, i int, d digest, finalizeErr error) (uint32, error) {
	if isPreconditionFailed(finalizeErr) {
		return settleConcurrentPart(ctx, obj, plan, i, d)
	}
	if finalizeErr != nil {
		return 0, storageFailure(nil, "uploading part %d: %v", i, finalizeErr)
	}
	_, length := plan.bounds(i)
	attrs := w.Attrs()
	if attrs.Size != length || attrs.CRC32C != d.crc32c {
		c.integrityFailure()
		_ = deleteExact(ctx, obj, attrs)
		return 0, failure.Retryable(contract.IntegrityMismatch, nil, "part %d was stored with crc32c %s and %d bytes, but %s and %d bytes were read",
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
		return 0, storageFailure(nil, "marking part %d verified: %v", i, err)
	}
	return d.crc32c, nil
}

// settleConcurrentPart handles a part object that appeared while we were
// writing it: another attempt — one whose heartbeat timed out but which kept
// running — wrote it. If that attempt verified it for this very plan, it is
// as good as ours and is kept (under a validator that is not opaque, only
// if it holds the bytes we read: ours). Otherwise it is removed, but only
// the generation and metageneration that were read, so a part verified in
// the meantime survives, and the part is fetched again.
func settleConcurrentPart(ctx context.Context, obj *storage.ObjectHandle, plan partPlan, i int, ours digest) (uint32, error) {
	attrs, err := obj.Attrs(ctx)
	_, length := plan.bounds(i)
	switch {
	case errors.Is(err, storage.ErrObjectNotExist):
		return 0, storageFailure(nil, "part %d was written concurrently and removed since; fetching it again", i)
	case err != nil:
		return 0, storageFailure(nil, "reading the concurrently written part %d: %v", i, err)
	case plan.verifiedPart(i, attrs) && (plan.version.Opaque() || (ours.size == length && ours.crc32c == attrs.CRC32C)):
		return attrs.CRC32C, nil
	}
	err = deleteExact(ctx, obj, attrs)
	if err != nil && !errors.Is(err, storage.ErrObjectNotExist) && !isPreconditionFailed(err) {
		return 0, storageFailure(nil, "removing the unverified part %d: %v", i, err)
	}
	return 0, storageFailure(nil, "part %d was written concurrently and is not verified; fetching it again", i)
}

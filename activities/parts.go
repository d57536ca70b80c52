package activities

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"cloud.google.com/go/storage"
	"go.temporal.io/sdk/activity"
	"golang.org/x/sync/errgroup"

	"wochit-ingest/internal/crc32c"
)

// Large files are copied in parts when the origin supports ranges: each part
// is a ranged GET streamed into its own temporary object, and the final
// object is composed from the parts. A part object only exists once its
// bytes were verified, and is marked verified in its metadata; a retried
// attempt, on any worker, keeps the verified parts and fetches only the rest.
// Composite objects carry a CRC32C (combined from the parts') but no MD5.

const (
	// maxPartTries bounds the retries of one part inside an attempt, so a
	// transient error costs one part, not the attempt's progress.
	maxPartTries = 3
	// maxComposeSources is GCS's limit per compose request.
	maxComposeSources = 32
)

// Part object metadata (besides wochitVideoId, sourceUrl, sourceEtag).
const (
	metaPartOffset = "partOffset"
	metaPartLength = "partLength"
)

// partPlan is how one file is cut into parts.
type partPlan struct {
	in     TransferInput
	total  int64
	size   int64
	etag   string
	source string // without query string
	dir    string // where the temporary objects live
}

func (a *Activities) planParts(in TransferInput, total, size int64, etag, source string) partPlan {
	return partPlan{in: in, total: total, size: size, etag: etag, source: source, dir: a.partDir(in)}
}

// partDir holds the temporary objects of one file. It sits under one
// prefix for all videos (<prefix>.parts/) so a bucket lifecycle rule can
// clear what an abandoned transfer leaves behind.
func (a *Activities) partDir(in TransferInput) string {
	return a.Prefix + ".parts/" + in.WochitVideoID + "/" + string(in.Kind) + "/"
}

func (p partPlan) count() int { return int((p.total + p.size - 1) / p.size) }

func (p partPlan) bounds(i int) (offset, length int64) {
	offset = int64(i) * p.size
	return offset, min(p.size, p.total-offset)
}

func (p partPlan) name(i int) string { return fmt.Sprintf("%s%06d", p.dir, i) }

// partTracker is the shared progress of one attempt's parts.
type partTracker struct {
	plan     partPlan
	mu       sync.Mutex
	done     map[int]uint32 // index → CRC32C
	inFlight int64          // bytes of unfinished parts read so far
}

func (t *partTracker) finish(i int, crc uint32, readSoFar int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.done[i] = crc
	t.inFlight -= readSoFar
}

func (t *partTracker) read(n int64) {
	t.mu.Lock()
	t.inFlight += n
	t.mu.Unlock()
}

func (t *partTracker) progress() TransferProgress {
	t.mu.Lock()
	defer t.mu.Unlock()
	p := TransferProgress{Kind: t.plan.in.Kind, Total: t.plan.total, PartSize: t.plan.size, Bytes: t.inFlight}
	for i, crc := range t.done {
		_, length := t.plan.bounds(i)
		p.Bytes += length
		p.Parts = append(p.Parts, PartRecord{Index: i, CRC32C: crc32c.Encode(crc)})
	}
	slices.SortFunc(p.Parts, func(x, y PartRecord) int { return x.Index - y.Index })
	return p
}

// transferParts copies the file part by part (first holds the start of part
// 0, already requested) and composes the final object.
func (a *Activities) transferParts(ctx context.Context, plan partPlan, first io.ReadCloser, final *storage.ObjectHandle,
	contentType string, meta map[string]string, declared sourceHashes,
) (*storage.ObjectAttrs, digest, error) {
	settings := a.transferSettings()
	bucket := a.Storage.Bucket(a.Bucket)

	var previous TransferProgress
	if activity.IsActivity(ctx) && activity.HasHeartbeatDetails(ctx) {
		_ = activity.GetHeartbeatDetails(ctx, &previous)
	}
	done, err := a.verifiedParts(ctx, bucket, plan, previous)
	if err != nil {
		return nil, digest{}, err
	}
	if _, ok := done[0]; ok {
		// Part 0 is kept: stop the probe's body now rather than let the
		// origin push bytes nobody will read.
		first.Close()
	}
	tracker := &partTracker{plan: plan, done: done}
	stopHeartbeat := heartbeatEvery(ctx, settings.HeartbeatInterval, func() any { return tracker.progress() })
	defer stopHeartbeat()

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
			if i == 0 {
				j.body = io.LimitReader(first, plan.size)
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
		return nil, digest{}, err
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
		return nil, d, retryable(ErrIntegrity, nil, "the parts read from %s do not add up to the CRC32C the origin declared", plan.source)
	}
	attrs, err := a.compose(ctx, bucket, plan, sources, final, contentType, meta)
	return attrs, d, err
}

// copyPart copies part i, retrying transient failures a few times.
func (a *Activities) copyPart(ctx context.Context, bucket *storage.BucketHandle, plan partPlan, tracker *partTracker, i int, body io.Reader) error {
	for try := 1; ; try++ {
		err := a.copyPartOnce(ctx, bucket, plan, tracker, i, body)
		body = nil // a retry requests the range again
		if err == nil || isPermanent(err) || ctx.Err() != nil || try == maxPartTries {
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
		resp, err := a.get(ctx, plan.in, offset, offset+length-1)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if err := checkPartResponse(resp, plan, offset, length); err != nil {
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
	w.Metadata = map[string]string{
		metaWochitVideoID: plan.in.WochitVideoID,
		metaSourceURL:     truncate(plan.source, maxMetadataValue),
		metaSourceETag:    truncate(plan.etag, maxMetadataValue),
		metaPartOffset:    strconv.FormatInt(offset, 10),
		metaPartLength:    strconv.FormatInt(length, 10),
	}
	var read int64
	src := newHashingReader(io.LimitReader(body, length), false, func(n int) {
		read += int64(n)
		tracker.read(int64(n))
		a.Metrics.addBytes(plan.in.Kind, int64(n))
	})
	defer func() { tracker.read(-read) }() // an unfinished part's bytes no longer count

	_, copyErr := copyBuffered(w, src)
	d := src.digest()
	switch {
	case src.err != nil:
		abandonUpload()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return retryable(ErrIncompleteBody, nil, "reading part %d of %s failed after %d bytes: %v", i, plan.source, d.size, src.err)
	case copyErr != nil:
		abandonUpload()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if isPreconditionFailed(copyErr) {
			return a.replaceUnverifiedPart(ctx, obj, i)
		}
		return retryable(ErrStorage, nil, "uploading part %d: %v", i, copyErr)
	case d.size != length:
		abandonUpload()
		return retryable(ErrIncompleteBody, nil, "part %d of %s ended after %d of %d bytes", i, plan.source, d.size, length)
	}
	if err := w.Close(); err != nil {
		if isPreconditionFailed(err) {
			return a.replaceUnverifiedPart(ctx, obj, i)
		}
		return retryable(ErrStorage, nil, "finalizing part %d: %v", i, err)
	}
	attrs := w.Attrs()
	if attrs.Size != length || attrs.CRC32C != d.crc32c {
		a.Metrics.integrityFailure(plan.in.Kind)
		_ = obj.If(storage.Conditions{GenerationMatch: attrs.Generation}).Delete(ctx)
		return retryable(ErrIntegrity, nil, "part %d was stored with crc32c %s and %d bytes, but %s and %d bytes were read",
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
		return retryable(ErrStorage, nil, "marking part %d verified: %v", i, err)
	}
	tracker.finish(i, d.crc32c, read)
	read = 0
	return nil
}

// replaceUnverifiedPart handles a part object that appeared while we were
// writing it (a concurrent attempt): it cannot be trusted unless verified, so
// it is removed and the part fetched again.
func (a *Activities) replaceUnverifiedPart(ctx context.Context, obj *storage.ObjectHandle, i int) error {
	_ = obj.Delete(ctx)
	return retryable(ErrStorage, nil, "part %d was written concurrently; fetching it again", i)
}

// checkPartResponse insists on exactly the requested range of the same file.
func checkPartResponse(resp *http.Response, plan partPlan, offset, length int64) error {
	if resp.StatusCode != http.StatusPartialContent {
		return retryable(ErrOriginMisbehaved, nil, "origin answered %d instead of 206 to a range request", resp.StatusCode)
	}
	r, ok := parseContentRange(resp.Header.Get("Content-Range"))
	if !ok || r.start != offset || r.end != offset+length-1 || r.total != plan.total {
		return retryable(ErrOriginMisbehaved, nil, "origin answered the range %d-%d/%d with Content-Range %q",
			offset, offset+length-1, plan.total, resp.Header.Get("Content-Range"))
	}
	if resp.ContentLength >= 0 && resp.ContentLength != length {
		return retryable(ErrOriginMisbehaved, nil, "origin sent Content-Length %d for a %d-byte range", resp.ContentLength, length)
	}
	if etag := resp.Header.Get("ETag"); plan.etag != "" && etag != "" && etag != plan.etag {
		return retryable(ErrOriginMisbehaved, nil, "the file changed during the transfer (ETag %s, was %s)", etag, plan.etag)
	}
	return nil
}

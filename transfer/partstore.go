package transfer

import (
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"time"

	"github.com/wochit-ingest/wochit-ingest/contract"

	"cloud.google.com/go/storage"
	"golang.org/x/sync/errgroup"
	"google.golang.org/api/iterator"

	"github.com/wochit-ingest/wochit-ingest/internal/crc32c"
	"github.com/wochit-ingest/wochit-ingest/internal/failure"
	"github.com/wochit-ingest/wochit-ingest/internal/redact"
)

// verifiedParts lists the parts an earlier attempt left behind, keeps those
// that are verified parts of this plan, and deletes the rest. A part the
// earlier attempt's heartbeat recorded must also match that record.
func (c *copier) verifiedParts(ctx context.Context, plan partPlan, recorded []PartRecord) (map[int]uint32, error) {
	bucket := c.dst.Bucket
	records := map[int]string{}
	for _, p := range recorded {
		records[p.Index] = p.CRC32C
	}
	done := map[int]uint32{}
	it := bucket.Objects(ctx, &storage.Query{Prefix: plan.dir})
	for {
		attrs, err := it.Next()
		if errors.Is(err, iterator.Done) {
			return done, nil
		}
		if err != nil {
			return nil, storageFailure(nil, "listing parts under %s: %v", plan.dir, err)
		}
		i, ok := partIndex(plan, attrs.Name)
		if ok {
			rec, listed := records[i]
			ok = plan.verifiedPart(i, attrs) && (!listed || rec == attrs.Metadata[metaCRC32C])
		}
		if ok {
			done[i] = attrs.CRC32C
			continue
		}
		// Unverified, stale, of another version or an intermediate compose
		// result: remove it (that generation and metageneration only).
		_ = deleteExact(ctx, bucket.Object(attrs.Name), attrs)
	}
}

func partIndex(plan partPlan, name string) (int, bool) {
	var i int
	if _, err := fmt.Sscanf(name, plan.dir+"%06d", &i); err != nil || plan.name(i) != name || i >= plan.count() {
		return 0, false
	}
	return i, true
}

type composeSource struct {
	obj  *storage.ObjectHandle
	crc  uint32
	size int64
}

// compose joins the parts into the final object, at most 32 sources per
// request: larger files are composed in rounds through intermediate objects.
// Every request carries the expected CRC32C, which GCS verifies.
func (c *copier) compose(ctx context.Context, plan partPlan, sources []composeSource,
	final *storage.ObjectHandle, contentType string, meta map[string]string,
) (*storage.ObjectAttrs, error) {
	bucket := c.dst.Bucket
	for round := 0; len(sources) > maxComposeSources; round++ {
		var next []composeSource
		for start := 0; start < len(sources); start += maxComposeSources {
			group := sources[start:min(start+maxComposeSources, len(sources))]
			if len(group) == 1 {
				next = append(next, group[0])
				continue
			}
			inter := bucket.Object(fmt.Sprintf("%scompose-%d-%06d", plan.dir, round, start/maxComposeSources))
			merged := joined(group)
			composer := inter.ComposerFrom(handles(group)...)
			composer.CRC32C, composer.SendCRC32C = merged.crc, true
			if _, err := composer.Run(ctx); err != nil {
				return nil, storageFailure(nil, "composing %s: %v", inter.ObjectName(), err)
			}
			next = append(next, composeSource{obj: inter, crc: merged.crc, size: merged.size})
		}
		sources = next
	}
	composer := final.If(storage.Conditions{DoesNotExist: true}).ComposerFrom(handles(sources)...)
	composer.ContentType = contentType
	composer.Metadata = meta
	composer.CRC32C, composer.SendCRC32C = joined(sources).crc, true
	attrs, err := composer.Run(ctx)
	if err != nil {
		if isPreconditionFailed(err) {
			return nil, err
		}
		return nil, storageFailure(nil, "composing %s: %v", final.ObjectName(), err)
	}
	return attrs, nil
}

func handles(s []composeSource) []*storage.ObjectHandle {
	out := make([]*storage.ObjectHandle, len(s))
	for i, src := range s {
		out[i] = src.obj
	}
	return out
}

// joined is what composing s yields: the combined CRC32C and total size.
func joined(s []composeSource) composeSource {
	out := composeSource{crc: s[0].crc, size: s[0].size}
	for _, src := range s[1:] {
		out.crc = crc32c.Combine(out.crc, src.crc, src.size)
		out.size += src.size
	}
	return out
}

// deleteParts removes a file's temporary objects, several at a time, each
// only as it was listed: a part written again or marked verified since —
// by a concurrent attempt still at work — survives. Failing to is not
// fatal: a later attempt or the bucket's lifecycle rule removes them.
func (c *copier) deleteParts(ctx context.Context, dir string) {
	bucket := c.dst.Bucket
	var g errgroup.Group
	g.SetLimit(8)
	it := bucket.Objects(ctx, &storage.Query{Prefix: dir})
	for {
		attrs, err := it.Next()
		if err != nil {
			if !errors.Is(err, iterator.Done) {
				c.opts.Logger.Warn("could not list temporary parts", "dir", dir, "error", redact.Text(err.Error()))
			}
			break
		}
		g.Go(func() error {
			if err := deleteExact(ctx, bucket.Object(attrs.Name), attrs); err != nil && !isPreconditionFailed(err) {
				c.opts.Logger.Warn("could not delete a temporary part", "object", attrs.Name, "error", redact.Text(err.Error()))
			}
			return nil
		})
	}
	_ = g.Wait()
}

// partsReader reads the file that the verified parts of plan make up,
// before they are composed, through ranged reads of the part objects: where
// a check of the whole file's structure (its boxes, say) can look at it.
type partsReader struct {
	ctx    context.Context
	bucket *storage.BucketHandle
	plan   partPlan
}

func (r partsReader) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("reading parts at offset %d", off)
	}
	n := 0
	for n < len(p) {
		pos := off + int64(n)
		if pos >= r.plan.total {
			return n, io.EOF
		}
		i := int(pos / r.plan.size)
		start, length := r.plan.bounds(i)
		want := min(int64(len(p)-n), start+length-pos)
		rd, err := r.bucket.Object(r.plan.name(i)).NewRangeReader(r.ctx, pos-start, want)
		if err != nil {
			return n, err
		}
		k, err := io.ReadFull(rd, p[n:n+int(want)])
		rd.Close()
		n += k
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// recheckPart reads part i, kept from an earlier attempt, again from the
// origin and compares its CRC32C with the kept part's. A validator that is
// not opaque cannot tell apart two versions of one size and modification
// time (origin.Version.Opaque); their bytes can. A kept part that differs
// is of another version: it is replaced by one fetched now. body, when not
// nil, holds the part's bytes already (the probe's, for part 0).
func (c *copier) recheckPart(ctx context.Context, plan partPlan, tracker *partTracker, i int, body io.Reader) error {
	want := tracker.crc(i)
	for try := 1; ; try++ {
		got, err := c.readPartCRC(ctx, plan, tracker, i, body)
		body = nil // a retry requests the range again
		switch {
		case err == nil && got == want:
			return nil
		case err == nil:
			c.opts.Logger.Warn("a part kept from an earlier attempt differs from what the origin serves now under the same validator; fetching it again",
				"part", i, "validator", plan.validator)
			if err := c.dropPart(ctx, plan, i, want); err != nil {
				return err
			}
			tracker.forget(i)
			return c.copyPart(ctx, plan, tracker, i, nil)
		case isPermanent(err) || ctx.Err() != nil || try == maxPartTries || tracker.staleness() != planHolds:
			return err
		}
		c.opts.Logger.Warn("re-reading a kept part failed; retrying it", "part", i, "try", try, "error", err)
		select {
		case <-time.After(time.Duration(try) * time.Second):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// readPartCRC reads part i's range from the origin (or from body) and
// returns its CRC32C.
func (c *copier) readPartCRC(ctx context.Context, plan partPlan, tracker *partTracker, i int, body io.Reader) (uint32, error) {
	offset, length := plan.bounds(i)
	if body == nil {
		resp, err := c.origin.Get(ctx, offset, offset+length-1, plan.validator)
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		if err := c.checkPart(tracker, resp, plan, offset, length); err != nil {
			return 0, err
		}
		body = resp.Body
	}
	sum := crc32.New(crc32c.Table)
	n, err := io.Copy(sum, countedReader{io.LimitReader(body, length), c.countBytes})
	switch {
	case ctx.Err() != nil:
		return 0, ctx.Err()
	case err != nil:
		return 0, failure.Retryable(contract.IncompleteBody, nil, "re-reading part %d of %s failed after %d bytes: %v", i, plan.source, n, err)
	case n != length:
		return 0, failure.Retryable(contract.IncompleteBody, nil, "part %d of %s ended after %d of %d bytes", i, plan.source, n, length)
	}
	return sum.Sum32(), nil
}

// dropPart deletes kept part i, whose bytes (CRC32C crc) are of another
// version: that object only, so a part written since survives.
func (c *copier) dropPart(ctx context.Context, plan partPlan, i int, crc uint32) error {
	obj := c.dst.Bucket.Object(plan.name(i))
	attrs, err := obj.Attrs(ctx)
	switch {
	case errors.Is(err, storage.ErrObjectNotExist):
		return nil
	case err != nil:
		return storageFailure(nil, "reading part %d to replace it: %v", i, err)
	case attrs.CRC32C != crc:
		return storageFailure(nil, "part %d was replaced while it was checked; the next attempt checks it again", i)
	}
	err = deleteExact(ctx, obj, attrs)
	if err != nil && !errors.Is(err, storage.ErrObjectNotExist) {
		return storageFailure(nil, "deleting part %d of another version: %v", i, err)
	}
	return nil
}

// countedReader tells count of every byte read.
type countedReader struct {
	r     io.Reader
	count func(int64)
}

func (r countedReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	r.count(int64(n))
	return n, err
}

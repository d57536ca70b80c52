package transfer

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"sync"

	"github.com/wochit-ingest/wochit-ingest/contract"

	"cloud.google.com/go/storage"

	"github.com/wochit-ingest/wochit-ingest/internal/crc32c"
	"github.com/wochit-ingest/wochit-ingest/transfer/origin"
)

// Large files are copied in parts when the origin supports ranges: each part
// is a ranged GET streamed into its own temporary object, and the final
// object is composed from the parts. A part object only exists once its
// bytes were verified, and is marked verified in its metadata; a retried
// attempt, on any worker, keeps the verified parts of the same version of
// the file and fetches only the rest. Composite objects carry a CRC32C
// (combined from the parts') but no MD5.

const (
	// maxPartTries bounds the retries of one part inside an attempt, so a
	// transient error costs one part, not the attempt's progress.
	maxPartTries = 3
	// maxComposeSources is GCS's limit per compose request.
	maxComposeSources = 32
	// maxParts bounds the parts of a file: the compose requests it takes,
	// and the heartbeat, which lists the finished parts and must stay far
	// below Temporal's blob limits (a warning at 512 KiB, a failure at
	// 2 MiB). A file that would need more gets larger parts, or when its
	// origin caps ranges below that, is copied in one stream.
	maxParts = 4096
)

// Part object metadata (besides wochitVideoId, sourceUrl and crc32c).
const (
	metaSourceValidator = "sourceValidator"
	metaSourceSize      = "sourceSize"
	metaPartOffset      = "partOffset"
	metaPartLength      = "partLength"
)

// partPlan is how one version of a file is cut into parts.
type partPlan struct {
	videoID   string
	total     int64
	size      int64
	validator string         // the version, as If-Range sends it
	version   origin.Version // what every part answer must repeat
	source    string         // without query string
	dir       string         // where the temporary objects live
}

// probe asks the origin for the start of the file: the first part's range
// (no longer than the origin was found to serve), or on a retry of a parted
// transfer, which knows the part size and the version already, a few bytes
// to sniff and to compare validators. A thumbnail is never copied in parts,
// so it is asked for whole.
func (c *copier) probe(ctx context.Context, previous Progress) (origin.Probe, error) {
	if !c.partable() {
		return c.origin.WholeFile(ctx)
	}
	first := c.opts.PartSize
	switch {
	case previous.resumable():
		first = sniffLen
	case previous.RangeCap > 0:
		first = min(first, previous.RangeCap) // a range the origin serves whole
	}
	return c.origin.Probe(ctx, first)
}

// partable reports whether the file may be copied in parts. Thumbnails may
// not: they run by the hundred on the light queue, where each part in
// flight would hold a copy buffer outside the worker's memory budget; a
// large one streams within the budget (copy) instead.
func (c *copier) partable() bool { return c.dst.Kind != contract.KindThumbnail }

// planParts decides whether the rest of a file whose probe got its start is
// copied in parts, and in which size: the earlier attempt's, when this one
// resumes the same version; the size the origin caps its ranges at, when it
// served less than asked (or an earlier attempt saw it cap a later range);
// the configured one otherwise, raised so the file has at most maxParts.
// Without a strong validator nothing could tell parts of two versions
// apart, so such a file is copied in one stream.
func (c *copier) planParts(probe origin.Probe) (partPlan, bool) {
	if !probe.Partial() || !c.partable() {
		return partPlan{}, false
	}
	previous := c.opts.Resume
	version := origin.VersionOf(probe.Resp.Header)
	plan := partPlan{
		videoID: c.dst.WochitVideoID, total: probe.Total, size: c.opts.PartSize, validator: version.Validator(), version: version,
		source: c.source, dir: c.partDir(),
	}
	// The shortest a part may be for the file to have at most maxParts.
	least := (plan.total + maxParts - 1) / maxParts
	served := int64(math.MaxInt64) // the longest range the origin serves
	if probe.Length < probe.Asked {
		served = probe.Length
	}
	if previous.RangeCap > 0 {
		served = min(served, previous.RangeCap)
	}
	switch {
	case plan.validator == "":
		c.opts.Logger.Info("copying in one stream: the origin sends no strong ETag or Last-Modified to check parts against", "etag", version.ETag)
		return partPlan{}, false
	case !version.Opaque() && origin.ServedWithinModifiedSecond(probe.Resp.Header):
		c.opts.Logger.Info("copying in one stream: the file was served within a second of its Last-Modified date, which then does not name one version",
			"lastModified", version.LastModified)
		return partPlan{}, false
	case previous.resumable() && previous.Validator == plan.validator && previous.Total == plan.total &&
		previous.PartSize >= least && previous.PartSize <= served:
		plan.size = previous.PartSize
	case served < max(plan.size, least):
		if served < c.opts.MinPartSize || served < least {
			c.opts.Logger.Info("copying in one stream: the origin's ranges are too short for parts", "rangeBytes", served)
			return partPlan{}, false
		}
		plan.size = served
	case plan.size < least:
		plan.size = min(roundUp(least, partQuantum), served)
	}
	return plan, true
}

// partQuantum rounds the part size of a file too large for maxParts parts
// of the configured size.
const partQuantum = 1 << 20

func roundUp(n, q int64) int64 { return (n + q - 1) / q * q }

// partDir holds the temporary objects of one file. It sits under one
// prefix for all videos (<prefix>.parts/) so a bucket lifecycle rule can
// clear what an abandoned transfer leaves behind.
func (c *copier) partDir() string {
	return c.dst.Prefix + ".parts/" + c.dst.WochitVideoID + "/" + string(c.dst.Kind) + "/"
}

func (p partPlan) count() int { return int((p.total + p.size - 1) / p.size) }

func (p partPlan) bounds(i int) (offset, length int64) {
	offset = int64(i) * p.size
	return offset, min(p.size, p.total-offset)
}

func (p partPlan) name(i int) string { return fmt.Sprintf("%s%06d", p.dir, i) }

// partMetadata ties part i to this plan: the video, the source and its
// version, and the part's place in the file.
func (p partPlan) partMetadata(i int) map[string]string {
	offset, length := p.bounds(i)
	return map[string]string{
		metaWochitVideoID:   p.videoID,
		metaSourceURL:       fitMetadata(p.source, maxMetadataText),
		metaSourceValidator: fitMetadata(p.validator, maxMetadataValidator),
		metaSourceSize:      strconv.FormatInt(p.total, 10),
		metaPartOffset:      strconv.FormatInt(offset, 10),
		metaPartLength:      strconv.FormatInt(length, 10),
	}
}

// verifiedPart reports whether attrs is part i of this plan, complete and
// marked verified (its recorded CRC32C is the one GCS computed).
func (p partPlan) verifiedPart(i int, attrs *storage.ObjectAttrs) bool {
	_, length := p.bounds(i)
	if attrs.Size != length || attrs.Metadata[metaCRC32C] != crc32c.Encode(attrs.CRC32C) {
		return false
	}
	for k, v := range p.partMetadata(i) {
		if attrs.Metadata[k] != v {
			return false
		}
	}
	return true
}

// staleness says why a plan stopped holding during an attempt; the worse
// reason (the larger value) wins.
type staleness = origin.Change

const (
	planHolds      = origin.Unchanged
	versionChanged = origin.VersionChanged // the file changed: its parts are of another version
	rangesCapped   = origin.RangesCapped   // the origin serves shorter ranges than the plan's parts
)

// checkPart holds a part answer to the plan (origin.CheckPart). An answer
// that shows the plan no longer holds stops the attempt's parts; a range
// cut short is remembered in the progress, so the next attempt plans parts
// the origin serves whole.
func (c *copier) checkPart(tracker *partTracker, resp *http.Response, plan partPlan, offset, length int64) error {
	stale, err := origin.CheckPart(resp, plan.version, plan.total, offset, length)
	if err == nil {
		return nil
	}
	tracker.invalidate(stale)
	if r, ok := origin.ParseContentRange(resp.Header.Get("Content-Range")); ok && stale == rangesCapped {
		c.progress.capRanges(r.End - r.Start + 1)
	}
	return err
}

// partTracker is the shared progress of one attempt's parts.
type partTracker struct {
	kind     contract.AssetKind
	plan     partPlan
	mu       sync.Mutex
	done     map[int]uint32 // index → CRC32C
	inFlight int64          // bytes of unfinished parts read so far
	stale    staleness
}

func (t *partTracker) finish(i int, crc uint32, readSoFar int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.done[i] = crc
	t.inFlight -= readSoFar
}

// crc is the CRC32C of finished part i.
func (t *partTracker) crc(i int) uint32 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.done[i]
}

// forget drops part i from the finished ones: it is fetched again.
func (t *partTracker) forget(i int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.done, i)
}

func (t *partTracker) read(n int64) {
	t.mu.Lock()
	t.inFlight += n
	t.mu.Unlock()
}

func (t *partTracker) invalidate(why staleness) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.stale = max(t.stale, why)
}

func (t *partTracker) staleness() staleness {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.stale
}

// progress is what the heartbeat reports. Once the plan no longer holds it
// names no part size or version, so the next attempt plans anew.
func (t *partTracker) progress() Progress {
	t.mu.Lock()
	defer t.mu.Unlock()
	p := Progress{Kind: t.kind, Total: t.plan.total, Bytes: t.inFlight}
	for i, crc := range t.done {
		_, length := t.plan.bounds(i)
		p.Bytes += length
		p.Parts = append(p.Parts, PartRecord{Index: i, CRC32C: crc32c.Encode(crc)})
	}
	slices.SortFunc(p.Parts, func(x, y PartRecord) int { return x.Index - y.Index })
	if t.stale != planHolds {
		p.Parts = nil
		return p
	}
	p.PartSize, p.Validator = t.plan.size, t.plan.validator
	return p
}

// Package transfer is the copy engine: it copies one media file from its
// origin into GCS under a deterministic name, with verified integrity. The
// object only comes into existence once every byte arrived, its checksums
// match and it is a whole file of its format; an interrupted copy leaves
// nothing visible (uploads are abandoned by cancelling them, never
// finalized). Origins that support ranges are copied in parts, which a
// later attempt resumes; others in one stream, or read whole when small.
//
// The engine knows nothing of Temporal: progress goes to a callback, the
// previous attempt's progress comes in as Options.Resume, and failures are
// *Error values typed with a contract.Reason. Package activities runs it
// as TransferToGCS; package origin is its HTTP client.
package transfer

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"time"

	"github.com/wochit-ingest/wochit-ingest/contract"

	"cloud.google.com/go/storage"

	"github.com/wochit-ingest/wochit-ingest/internal/crc32c"
	"github.com/wochit-ingest/wochit-ingest/internal/failure"
	"github.com/wochit-ingest/wochit-ingest/internal/redact"
	"github.com/wochit-ingest/wochit-ingest/transfer/origin"
)

// copier is one call of Copy.
type copier struct {
	origin   *origin.Client
	srcURL   *url.URL
	source   string // the source URL without its query string
	dst      Destination
	opts     Options
	progress *reporter
	watch    *stallWatchdog // from the first request to the origin
}

// Copy copies src to dst. See the package documentation.
func Copy(ctx context.Context, src Source, dst Destination, opts Options) (Result, error) {
	srcURL, err := validate(src, dst)
	if err != nil {
		return Result{}, failure.Permanent(contract.InvalidInput, nil, "%v", err)
	}
	opts = opts.withDefaults()
	if opts.Resume.Kind == "" {
		opts.Resume.Kind = dst.Kind
	}
	if opts.Resume.Kind != dst.Kind {
		opts.Resume = Progress{Kind: dst.Kind} // another file's
	}
	c := &copier{
		origin: &origin.Client{HTTP: src.HTTP, URL: src.URL, LinkExpiresAt: src.LinkExpiresAt,
			IdleTimeout: opts.IdleTimeout, Now: opts.Now},
		srcURL: srcURL,
		source: redact.URL(src.URL),
		dst:    dst,
		opts:   opts,
	}
	c.origin.Received = func(n int) { c.watch.add(n) }
	c.progress = startReporter(opts.Progress, opts.ProgressInterval, initialProgress(opts.Resume))
	defer c.progress.stop()
	res, err := c.copy(ctx)
	if err != nil {
		err = c.settle(ctx, err, src.Attempt)
	}
	if err == nil && dst.Kind == contract.KindVideo {
		// The object is stored and verified: what follows only adds to the
		// callback, and never fails the copy.
		res.Object.Media = c.media(ctx, res)
	} else {
		res.Object.Media = nil
	}
	return res, err
}

// describeTimeout bounds reading a stored video's metadata.
const describeTimeout = 30 * time.Second

func (c *copier) copy(ctx context.Context) (Result, error) {
	// An earlier attempt, or an earlier run for the same video, may have stored
	// the file already. Reuse it without touching the origin, whose link may
	// have expired since.
	if res, found, err := c.findStored(ctx); err != nil || found {
		return res, err
	}
	if c.opts.ReuseOnly {
		return Result{}, failure.Permanent(contract.LinkExpired, nil,
			"no %s was stored for video %s and its link has expired; the origin was not contacted", c.dst.Kind, c.dst.WochitVideoID)
	}

	// From here on the attempt waits on its origin, which must keep
	// sending.
	ctx, c.watch = watchStalls(ctx, c.opts.ProgressWindow, c.opts.MinProgress)
	defer c.watch.close()

	first, err := c.open(ctx)
	if err != nil {
		return Result{}, err
	}
	defer first.probe.Resp.Body.Close()
	if first.body, first.contentType, err = c.inspectHead(first.probe); err != nil {
		return Result{}, err
	}

	etag := first.probe.Resp.Header.Get("ETag")
	obj := c.dst.Bucket.Object(c.objectName(first.contentType))
	meta := c.objectMetadata(etag)
	first.declared = origin.DeclaredHashes(first.probe.Resp.Header)

	attrs, sums, parts, release, err := c.store(ctx, first, obj, meta)
	defer release()
	c.watch.stop() // only GCS from here on
	if isPreconditionFailed(err) {
		// The object appeared between our check and our finalize: a
		// concurrent attempt (an activity whose heartbeat timed out but kept
		// running) got there first. Every path reports this only once the
		// whole file was read, so sums describes it.
		return c.acceptExisting(ctx, obj, sums)
	}
	if err != nil {
		return Result{}, err
	}
	if attrs, err = c.verifyStored(ctx, obj, attrs, sums); err != nil {
		return Result{}, err
	}
	return Result{Object: storedObject(attrs), SourceETag: etag, Parts: parts}, nil
}

// firstAnswer is the origin's first answer and what was learned from it:
// what every way of copying starts from.
type firstAnswer struct {
	probe       origin.Probe
	plan        partPlan
	parted      bool          // copied in parts (plan), not from this answer alone
	body        *bufio.Reader // the answer's body, its head peeked
	contentType string
	declared    origin.Hashes
}

// open asks the origin for the file and decides whether it is copied in
// parts or whole from one answer, refusing it when it is too large or
// encoded. The answer's body is the caller's to close.
func (c *copier) open(ctx context.Context) (firstAnswer, error) {
	kind, limit := c.dst.Kind, c.opts.MaxBytes
	probe, err := c.probe(ctx, c.opts.Resume)
	if err != nil {
		return firstAnswer{}, err
	}
	if probe.Total > limit {
		probe.Resp.Body.Close()
		return firstAnswer{}, failure.Permanent(contract.TooLarge, nil, "the %s is %d bytes; the limit is %d", kind, probe.Total, limit)
	}
	plan, parted := c.planParts(probe)
	if !parted && probe.Partial() {
		// The rest cannot be fetched in parts: ask for the file whole.
		probe.Resp.Body.Close()
		if probe, err = c.origin.WholeFile(ctx); err != nil {
			return firstAnswer{}, err
		}
	}
	if probe.Total > limit {
		probe.Resp.Body.Close()
		return firstAnswer{}, failure.Permanent(contract.TooLarge, nil, "the %s is %d bytes; the limit is %d", kind, probe.Total, limit)
	}
	if ce := probe.Resp.Header.Get("Content-Encoding"); ce != "" && ce != "identity" {
		probe.Resp.Body.Close()
		return firstAnswer{}, failure.Permanent(contract.UnsupportedContentType, nil, "the origin sends the %s with Content-Encoding %q", kind, ce)
	}
	return firstAnswer{probe: probe, plan: plan, parted: parted}, nil
}

// inspectHead reads the answer's first bytes before anything is stored:
// they decide the content type and must start a whole file of it.
func (c *copier) inspectHead(probe origin.Probe) (*bufio.Reader, string, error) {
	// Large enough to sniff and to see the first box headers; copies read
	// past it with their own buffers.
	body := bufio.NewReaderSize(probe.Resp.Body, headLen)
	head, peekErr := body.Peek(headLen)
	if peekErr != nil && peekErr != io.EOF && peekErr != bufio.ErrBufferFull {
		return nil, "", failure.Retryable(contract.IncompleteBody, nil, "reading the first bytes of %s: %v", c.source, origin.ReadError(probe.Resp, peekErr))
	}
	contentType, err := contentTypeOf(c.dst.Kind, probe.Resp.Header.Get("Content-Type"), head)
	if err != nil {
		return nil, "", err
	}
	if err := checkHead(head, probe.Total); err != nil {
		return nil, "", c.incompleteMedia(c.source, err)
	}
	if err := c.checkUndelimitedHead(probe.Resp, head); err != nil {
		return nil, "", err
	}
	return body, contentType, nil
}

// objectMetadata is what the stored object records of its video and source.
func (c *copier) objectMetadata(etag string) map[string]string {
	meta := map[string]string{
		metaWochitVideoID: c.dst.WochitVideoID,
		metaVideoContext:  fitMetadata(c.dst.VideoContext, maxMetadataText),
		metaSourceURL:     fitMetadata(c.source, maxMetadataText),
		metaKind:          string(c.dst.Kind),
	}
	if etag != "" {
		meta[metaSourceETag] = fitMetadata(etag, maxMetadataValidator)
	}
	return meta
}

// store copies the file one of three ways: in parts, read whole first when
// small, or streamed. release frees the memory a thumbnail's chunk holds;
// the caller defers it, so the chunk counts until the copy returns.
func (c *copier) store(ctx context.Context, first firstAnswer, obj *storage.ObjectHandle, meta map[string]string,
) (attrs *storage.ObjectAttrs, sums digest, parts int, release func(), err error) {
	release = func() {}
	probe, body := first.probe, first.body
	switch {
	case first.parted:
		attrs, sums, err = c.storeParts(ctx, first, obj, meta)
		return attrs, sums, first.plan.count(), release, err
	case probe.Length >= 0 && probe.Length <= int64(c.opts.ChunkSize):
		// Read whole first, if the memory budget allows; otherwise
		// streamed without a buffer.
		if releaseSmall, ok := c.reserveMemory(probe.Length); ok {
			attrs, sums, err = c.storeSmall(ctx, obj, probe, body, first.contentType, meta, first.declared)
			releaseSmall()
		} else {
			attrs, sums, err = c.stream(ctx, obj, probe, body, first.contentType, meta, first.declared, 0)
		}
	default:
		chunk := chunkSizeFor(probe.Length, c.opts.ChunkSize)
		// Videos hold their chunk within VIDEO_TRANSFER_SLOTS; thumbnails,
		// many more at once on the light queue, only within the budget.
		if c.dst.Kind == contract.KindThumbnail {
			var ok bool
			if release, ok = c.reserveMemory(int64(chunk)); !ok {
				chunk = 0
			}
		}
		attrs, sums, err = c.stream(ctx, obj, probe, body, first.contentType, meta, first.declared, chunk)
	}
	return attrs, sums, 0, release, err
}

// storeParts copies the file in parts, starting with the first answer's
// body when it is exactly part 0.
func (c *copier) storeParts(ctx context.Context, first firstAnswer, obj *storage.ObjectHandle, meta map[string]string,
) (*storage.ObjectAttrs, digest, error) {
	var part0 io.ReadCloser // the probe's body, when it is exactly part 0
	if _, length := first.plan.bounds(0); first.probe.Length == length {
		part0 = readCloser{first.body, first.probe.Resp.Body}
	}
	attrs, sums, err := c.copyParts(ctx, first.plan, part0, obj, first.contentType, meta, first.declared)
	// Verified parts are the resume point of a retry; once the final
	// object exists, or the transfer cannot succeed, they are litter.
	if err == nil || isPreconditionFailed(err) || isPermanent(err) {
		c.deleteParts(ctx, first.plan.dir)
	}
	return attrs, sums, err
}

// verifyStored compares what GCS stored with what was read from the
// origin, and records the checksums on the object.
func (c *copier) verifyStored(ctx context.Context, obj *storage.ObjectHandle, attrs *storage.ObjectAttrs, sums digest) (*storage.ObjectAttrs, error) {
	md5Differs := sums.md5 != nil && len(attrs.MD5) > 0 && !bytes.Equal(attrs.MD5, sums.md5)
	if attrs.CRC32C != sums.crc32c || attrs.Size != sums.size || md5Differs {
		// GCS holds other bytes than we read (every path declares our
		// CRC32C for GCS to check, so this takes a storage fault). Remove
		// exactly what we stored — a later, correct generation must survive
		// — and let the retry start over.
		c.integrityFailure()
		delErr := deleteExact(ctx, obj, attrs)
		return nil, failure.Retryable(contract.IntegrityMismatch, delErr,
			"stored object %s has crc32c %s, md5 %x and %d bytes, but crc32c %s, md5 %x and %d bytes were read from the origin",
			attrs.Name, crc32c.Encode(attrs.CRC32C), attrs.MD5, attrs.Size, crc32c.Encode(sums.crc32c), sums.md5, sums.size)
	}
	if attrs.Metadata[metaCRC32C] == "" {
		var err error
		if attrs, err = recordChecksums(ctx, obj, attrs, sums); err != nil {
			return nil, storageFailure(nil, "recording checksums on %s: %v", obj.ObjectName(), err)
		}
	}
	return attrs, nil
}

// headLen is how much of the first answer is looked at before copying.
const headLen = 4 << 10

func validate(src Source, dst Destination) (*url.URL, error) {
	switch {
	case dst.Kind != contract.KindVideo && dst.Kind != contract.KindThumbnail:
		return nil, fmt.Errorf("unknown asset kind %q", dst.Kind)
	case dst.WochitVideoID == "":
		return nil, errors.New("empty wochitVideoId")
	}
	u, err := url.Parse(src.URL)
	if err != nil || !u.IsAbs() || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("source %q is not an absolute http(s) URL", redact.URL(src.URL))
	}
	return u, nil
}

// reserveMemory takes n bytes of the memory budget, if there is one.
func (c *copier) reserveMemory(n int64) (release func(), ok bool) {
	if c.opts.ReserveMemory == nil {
		return func() {}, true
	}
	return c.opts.ReserveMemory(n)
}

func (c *copier) countBytes(n int64) {
	if c.opts.CountBytes != nil {
		c.opts.CountBytes(n)
	}
}

// settle makes the attempt's failure what the transfer's earlier failures
// say it is (failures.go), and records it for the next attempt: the
// progress watchdog's cut, a final third refusal, or a wait before a
// repeated failure.
func (c *copier) settle(ctx context.Context, err error, attempt int) error {
	if c.watch != nil && ctx.Err() == nil {
		if stalled, ok := c.watch.stalled(c.source); ok {
			err = stalled
		}
	}
	err, failures := settle(err, c.opts.Resume.Failures)
	c.progress.setFailures(failures)
	if failures.Repeats >= 2 && failures != c.opts.Resume.Failures {
		c.opts.Logger.Warn("the attempt failed as the previous one did; the next attempt waits", "attempt", attempt,
			"repeats", failures.Repeats, "wait", repeatedFailureDelay, "error", err)
	}
	return err
}

func (c *copier) integrityFailure() {
	if c.opts.IntegrityFailure != nil {
		c.opts.IntegrityFailure()
	}
}

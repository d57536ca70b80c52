package activities

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/wochit-ingest/wochit-ingest/contract"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/wochit-ingest/wochit-ingest/internal/safehttp"
)

const (
	// maxDeniedAttempts bounds how often a 401/403 is retried while the link
	// should still be valid (a CDN hiccup); after that it is final.
	maxDeniedAttempts = 3
	// maxRetryAfter caps how long an origin's Retry-After can delay a retry.
	maxRetryAfter = 10 * time.Minute
)

// get requests rawURL, the whole file or (when end >= 0) the byte range
// [start, end] — only of the version ifRange names, when set — and
// classifies failures. The body of the returned response fails when the
// origin stalls for longer than the idle timeout.
func (a *Activities) get(ctx context.Context, in TransferInput, start, end int64, ifRange string) (*http.Response, error) {
	settings := a.transferSettings()
	reqCtx, cancel := context.WithCancelCause(ctx)
	req, err := http.NewRequestWithContext(reqCtx, http.MethodGet, in.SourceURL, nil)
	if err != nil {
		cancel(nil)
		return nil, permanent(contract.InvalidInput, nil, "building request for %s", RedactURL(in.SourceURL))
	}
	// Store the bytes as served, not a re-encoding.
	req.Header.Set("Accept-Encoding", "identity")
	req.Header.Set("User-Agent", "wochit-ingest")
	if end >= 0 {
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", start, end))
		if ifRange != "" {
			req.Header.Set("If-Range", ifRange)
		}
	}
	// The idle watchdog also covers the wait for headers.
	idle := newIdleWatchdog(settings.IdleTimeout, cancel)
	resp, err := a.Origin.Do(req)
	if err != nil {
		idle.stop()
		cause := context.Cause(reqCtx)
		cancel(nil)
		return nil, originError(ctx, cause, in.SourceURL, err)
	}
	resp.Body = &watchedBody{ReadCloser: resp.Body, idle: idle, cancel: cancel}
	if err := a.statusError(ctx, in, resp); err != nil {
		resp.Body.Close()
		return nil, err
	}
	return resp, nil
}

// statusError maps the origin's status to nil (200, 206, 416 — the caller
// decides) or a typed error.
func (a *Activities) statusError(ctx context.Context, in TransferInput, resp *http.Response) error {
	source := RedactURL(in.SourceURL)
	code := resp.StatusCode
	switch {
	case code == http.StatusOK || code == http.StatusPartialContent || code == http.StatusRequestedRangeNotSatisfiable:
		return nil
	case code == http.StatusNotFound:
		return permanent(contract.OriginNotFound, nil, "origin answered 404 for %s", source)
	case code == http.StatusGone:
		return permanent(contract.LinkExpired, nil, "origin answered 410 for %s", source)
	case code == http.StatusUnauthorized || code == http.StatusForbidden:
		now := a.now()
		if !in.LinkExpiresAt.IsZero() && !now.Before(in.LinkExpiresAt) {
			return permanent(contract.LinkExpired, nil, "origin answered %d for %s after the link expired at %s",
				code, source, in.LinkExpiresAt.UTC().Format(time.RFC3339))
		}
		if activity.IsActivity(ctx) && activity.GetInfo(ctx).Attempt >= maxDeniedAttempts {
			return permanent(contract.OriginDenied, nil, "origin answered %d for %s on attempt %d, before the link's expiry",
				code, source, activity.GetInfo(ctx).Attempt)
		}
		return retryable(contract.OriginDenied, nil, "origin answered %d for %s", code, source)
	default: // 408, 429, 5xx, and anything unexpected
		delay := parseRetryAfter(resp.Header.Get("Retry-After"), a.now())
		return temporal.NewApplicationErrorWithOptions(
			fmt.Sprintf("origin answered %d for %s", code, source), string(contract.OriginUnavailable),
			temporal.ApplicationErrorOptions{NextRetryDelay: min(delay, maxRetryAfter)})
	}
}

// originError turns a failed request into a typed error whose message holds
// no query string (url.Error would print the whole signed URL).
func originError(ctx context.Context, cause error, rawURL string, err error) error {
	var blocked *safehttp.BlockedError
	if errors.As(err, &blocked) {
		return permanent(contract.BlockedDestination, nil, "fetching %s: %v", RedactURL(rawURL), blocked)
	}
	if ctx.Err() != nil {
		return ctx.Err() // the activity itself was cancelled or timed out
	}
	var uerr *url.Error
	if errors.As(err, &uerr) {
		err = uerr.Err
	}
	if cause != nil {
		err = cause // e.g. the idle watchdog fired while waiting for headers
	}
	return retryable(contract.OriginUnavailable, nil, "fetching %s: %v", RedactURL(rawURL), err)
}

// byteRange is a parsed Content-Range: bytes start-end/total (total -1 = "*").
type byteRange struct{ start, end, total int64 }

func parseContentRange(h string) (byteRange, bool) {
	spec, ok := strings.CutPrefix(h, "bytes ")
	if !ok {
		return byteRange{}, false
	}
	rng, total, ok := strings.Cut(spec, "/")
	if !ok {
		return byteRange{}, false
	}
	from, to, ok := strings.Cut(rng, "-")
	if !ok {
		return byteRange{}, false
	}
	var r byteRange
	var err1, err2, err3 error
	r.start, err1 = strconv.ParseInt(from, 10, 64)
	r.end, err2 = strconv.ParseInt(to, 10, 64)
	if total == "*" {
		r.total = -1
	} else {
		r.total, err3 = strconv.ParseInt(total, 10, 64)
	}
	if err1 != nil || err2 != nil || err3 != nil || r.start < 0 || r.end < r.start || (r.total >= 0 && r.end >= r.total) {
		return byteRange{}, false
	}
	return r, true
}

// sourceHashes are the checksums an origin declares for the whole file:
// GCS sends X-Goog-Hash (crc32c and md5), others Content-MD5.
type sourceHashes struct {
	crc32c    uint32
	hasCRC32C bool
	md5       []byte
}

func declaredHashes(h http.Header) sourceHashes {
	var s sourceHashes
	for _, v := range h.Values("X-Goog-Hash") {
		for _, part := range strings.Split(v, ",") {
			k, val, ok := strings.Cut(strings.TrimSpace(part), "=")
			if !ok {
				continue
			}
			b, err := base64.StdEncoding.DecodeString(val)
			switch {
			case err != nil:
			case k == "crc32c" && len(b) == 4:
				s.crc32c, s.hasCRC32C = binary.BigEndian.Uint32(b), true
			case k == "md5" && len(b) == 16:
				s.md5 = b
			}
		}
	}
	if s.md5 == nil {
		if b, err := base64.StdEncoding.DecodeString(h.Get("Content-MD5")); err == nil && len(b) == 16 {
			s.md5 = b
		}
	}
	return s
}

// parseRetryAfter reads delta-seconds or an HTTP date; zero when absent or bad.
func parseRetryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if secs, err := strconv.Atoi(v); err == nil {
		if secs < 0 {
			return 0
		}
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// idleWatchdog cancels a request when no byte has arrived for a while.
type idleWatchdog struct {
	d     time.Duration
	timer *time.Timer
}

var errIdle = errors.New("origin sent nothing for too long")

func newIdleWatchdog(d time.Duration, cancel context.CancelCauseFunc) *idleWatchdog {
	return &idleWatchdog{d: d, timer: time.AfterFunc(d, func() { cancel(fmt.Errorf("%w (%s)", errIdle, d)) })}
}

func (w *idleWatchdog) kick() { w.timer.Reset(w.d) }
func (w *idleWatchdog) stop() { w.timer.Stop() }

// watchedBody kicks the idle watchdog on every read and, when closed,
// releases the request's context.
type watchedBody struct {
	io.ReadCloser
	idle   *idleWatchdog
	cancel context.CancelCauseFunc
}

func (b *watchedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if n > 0 {
		b.idle.kick()
	}
	return n, err
}

func (b *watchedBody) Close() error {
	b.idle.stop()
	err := b.ReadCloser.Close()
	b.cancel(nil)
	return err
}

// readError describes why reading a body failed: the idle watchdog, or the
// connection.
func readError(resp *http.Response, err error) error {
	if c := context.Cause(resp.Request.Context()); c != nil && !errors.Is(c, context.Canceled) {
		return c
	}
	return err
}

// Package origin is the HTTP client of a transfer's origin: plain and
// ranged GETs (If-Range on a validator), the idle watchdog, Content-Range
// and validator checks, the checksums an origin declares, Retry-After, and
// the classification of every answer into a contract.Reason (*Error).
//
// It knows nothing of Temporal or GCS; package transfer drives it.
package origin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/wochit-ingest/wochit-ingest/contract"

	"github.com/wochit-ingest/wochit-ingest/internal/failure"
	"github.com/wochit-ingest/wochit-ingest/internal/redact"
	"github.com/wochit-ingest/wochit-ingest/internal/safehttp"
)

// MaxRetryAfter caps how long an origin's Retry-After can delay a retry.
const MaxRetryAfter = 10 * time.Minute

// Client fetches one file from its origin.
type Client struct {
	// HTTP must be SSRF-safe (internal/safehttp), follow at most a few
	// redirects and have no overall timeout.
	HTTP *http.Client
	// URL is the file's (signed) URL.
	URL string
	// LinkExpiresAt is when URL stops working; a 401/403 after it means the
	// link expired (final), before it a hiccup (retried). Zero: unknown.
	LinkExpiresAt time.Time
	// IdleTimeout fails a request whose origin sends nothing for this long,
	// headers or body; 0 waits for ever.
	IdleTimeout time.Duration
	// Received, when set, is told of every body byte received.
	Received func(n int)
	// Now is the clock; nil is time.Now.
	Now func() time.Time
}

func (c *Client) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// Get requests the whole file or (when end >= 0) the byte range
// [start, end] — only of the version ifRange names, when set — and
// classifies failures: an *Error, or the context's error when ctx ended.
// 200, 206 and 416 are answers for the caller to judge. The body of the
// returned response fails when the origin stalls for longer than the idle
// timeout.
func (c *Client) Get(ctx context.Context, start, end int64, ifRange string) (*http.Response, error) {
	reqCtx, cancel := context.WithCancelCause(ctx)
	req, err := http.NewRequestWithContext(reqCtx, http.MethodGet, c.URL, nil)
	if err != nil {
		cancel(nil)
		return nil, failure.Permanent(contract.InvalidInput, nil, "building request for %s", redact.URL(c.URL))
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
	idle := newIdleWatchdog(c.IdleTimeout, cancel)
	resp, err := c.HTTP.Do(req)
	if err != nil {
		idle.stop()
		cause := context.Cause(reqCtx)
		cancel(nil)
		return nil, requestError(ctx, cause, c.URL, err)
	}
	resp.Body = &watchedBody{ReadCloser: resp.Body, idle: idle, cancel: cancel, received: c.Received}
	if err := c.statusError(resp); err != nil {
		resp.Body.Close()
		return nil, err
	}
	return resp, nil
}

// statusError maps the origin's status to nil (200, 206, 416 — the caller
// decides) or a typed error.
func (c *Client) statusError(resp *http.Response) error {
	source := redact.URL(c.URL)
	code := resp.StatusCode
	switch {
	case code == http.StatusOK || code == http.StatusPartialContent || code == http.StatusRequestedRangeNotSatisfiable:
		return nil
	case code == http.StatusNotFound:
		return failure.Permanent(contract.OriginNotFound, nil, "origin answered 404 for %s", source)
	case code == http.StatusGone:
		return failure.Permanent(contract.LinkExpired, nil, "origin answered 410 for %s", source)
	case code == http.StatusUnauthorized || code == http.StatusForbidden:
		if !c.LinkExpiresAt.IsZero() && !c.now().Before(c.LinkExpiresAt) {
			return failure.Permanent(contract.LinkExpired, nil, "origin answered %d for %s after the link expired at %s",
				code, source, c.LinkExpiresAt.UTC().Format(time.RFC3339))
		}
		// A CDN hiccup, or a link that is not valid after all: the
		// transfer counts these across its attempts (a few are retried).
		return failure.Retryable(contract.OriginDenied, nil, "origin answered %d for %s before the link's expiry", code, source)
	case code >= 400 && code < 500 && code != http.StatusRequestTimeout && code != http.StatusTooEarly && code != http.StatusTooManyRequests:
		// 400, 405, 414, 431…: the origin refuses the request itself, which
		// another attempt repeats. A few tries (a proxy in front of it may
		// be briefly wrong), not until the deadline: the transfer counts
		// them across its attempts.
		return failure.Retryable(contract.OriginRejected, nil, "origin answered %d for %s", code, source)
	default: // 408, 425, 429, 5xx, and anything unexpected
		e := failure.Retryable(contract.OriginUnavailable, nil, "origin answered %d for %s", code, source)
		e.RetryAfter = min(ParseRetryAfter(resp.Header.Get("Retry-After"), c.now()), MaxRetryAfter)
		return e
	}
}

// requestError turns a failed request into a typed error whose message
// holds no query string (url.Error would print the whole signed URL).
func requestError(ctx context.Context, cause error, rawURL string, err error) error {
	var blocked *safehttp.BlockedError
	if errors.As(err, &blocked) {
		return failure.Permanent(contract.BlockedDestination, nil, "fetching %s: %v", redact.URL(rawURL), blocked)
	}
	if ctx.Err() != nil {
		return ctx.Err() // the caller itself was cancelled or timed out
	}
	var uerr *url.Error
	if errors.As(err, &uerr) {
		err = uerr.Err
	}
	if cause != nil {
		err = cause // e.g. the idle watchdog fired while waiting for headers
	}
	if msg := err.Error(); strings.Contains(msg, "response headers exceeded") || strings.Contains(msg, "response header list larger") {
		// Over the transport's MaxResponseHeaderBytes: refused after that
		// many bytes, and the same the next time.
		return failure.Retryable(contract.OriginMisbehaved, nil, "fetching %s: the origin's response headers are too large: %v", redact.URL(rawURL), err)
	}
	return failure.Retryable(contract.OriginUnavailable, nil, "fetching %s: %v", redact.URL(rawURL), err)
}

// idleWatchdog cancels a request when no byte has arrived for a while.
type idleWatchdog struct {
	d     time.Duration
	timer *time.Timer
}

var errIdle = errors.New("origin sent nothing for too long")

func newIdleWatchdog(d time.Duration, cancel context.CancelCauseFunc) *idleWatchdog {
	if d <= 0 {
		return &idleWatchdog{}
	}
	return &idleWatchdog{d: d, timer: time.AfterFunc(d, func() { cancel(fmt.Errorf("%w (%s)", errIdle, d)) })}
}

func (w *idleWatchdog) kick() {
	if w.timer != nil {
		w.timer.Reset(w.d)
	}
}

func (w *idleWatchdog) stop() {
	if w.timer != nil {
		w.timer.Stop()
	}
}

// watchedBody kicks the idle watchdog on every read and, when closed,
// releases the request's context.
type watchedBody struct {
	io.ReadCloser
	idle     *idleWatchdog
	cancel   context.CancelCauseFunc
	received func(n int)
}

func (b *watchedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if n > 0 {
		b.idle.kick()
		if b.received != nil {
			b.received(n)
		}
	}
	return n, err
}

func (b *watchedBody) Close() error {
	b.idle.stop()
	err := b.ReadCloser.Close()
	b.cancel(nil)
	return err
}

// ReadError describes why reading resp's body failed: the idle watchdog,
// or the connection.
func ReadError(resp *http.Response, err error) error {
	if c := context.Cause(resp.Request.Context()); c != nil && !errors.Is(c, context.Canceled) {
		return c
	}
	return err
}

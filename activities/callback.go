package activities

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/wochit-ingest/wochit-ingest/contract"

	"github.com/wochit-ingest/wochit-ingest/internal/failure"
	"github.com/wochit-ingest/wochit-ingest/internal/safehttp"
	"github.com/wochit-ingest/wochit-ingest/transfer/origin"
)

// CallbackInput is one attempt at delivering an event.
type CallbackInput struct {
	// WebhookID is the same for every attempt of one delivery, so receivers
	// can deduplicate on it.
	WebhookID string
	Event     contract.Event
	Attempt   int
}

// AttemptOutcome classifies one attempt's response.
type AttemptOutcome string

const (
	AttemptDelivered AttemptOutcome = "delivered" // 2xx
	AttemptRetry     AttemptOutcome = "retry"     // 408, 429, 5xx, 3xx, network error, timeout
	AttemptGone      AttemptOutcome = "gone"      // 410: the endpoint asks us to stop
	AttemptRejected  AttemptOutcome = "rejected"  // other 4xx: retrying would not help
)

// CallbackAttempt records one attempt for the status query and the result.
type CallbackAttempt struct {
	Attempt    int
	At         time.Time
	StatusCode int `json:",omitempty"`
	Latency    time.Duration
	Outcome    AttemptOutcome
	RetryAfter time.Duration `json:",omitempty"`
	Error      string        `json:",omitempty"`
}

// CallbackTimeout bounds one attempt, from connecting to reading the response.
const CallbackTimeout = 15 * time.Second

// DeliverCallback makes exactly one signed POST of the event to the callback
// URL and reports how it went. The retry schedule is the workflow's business:
// this activity never retries by itself, and every HTTP outcome, even a
// failure, is a result rather than an error.
func (a *Activities) DeliverCallback(ctx context.Context, in CallbackInput) (CallbackAttempt, error) {
	if a.CallbackURL == "" || a.Signer == nil {
		return CallbackAttempt{}, applicationError(failure.Permanent(contract.CallbackNotConfigured, nil, "no callback URL or secret configured on this worker"))
	}
	body, err := json.Marshal(in.Event)
	if err != nil {
		return CallbackAttempt{}, applicationError(failure.Permanent(contract.InvalidInput, err, "encoding event"))
	}

	ctx, cancel := context.WithTimeout(ctx, CallbackTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.CallbackURL, bytes.NewReader(body))
	if err != nil {
		return CallbackAttempt{}, applicationError(failure.Permanent(contract.CallbackNotConfigured, nil, "callback URL: %v", err))
	}
	start := a.now()
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "wochit-ingest")
	a.Signer.SetHeaders(req.Header, in.WebhookID, start, body)

	attempt := CallbackAttempt{Attempt: in.Attempt, At: start}
	defer func() { a.Metrics.callbackAttempt(in.Event.Type, attempt) }()
	resp, err := a.Callback.Do(req)
	attempt.Latency = a.now().Sub(start)
	if err != nil {
		attempt.Outcome = AttemptRetry
		attempt.Error = describeCallbackError(err)
		if safehttp.IsBlocked(err) {
			attempt.Outcome = AttemptRejected
		}
		return attempt, nil
	}
	defer resp.Body.Close()
	// Drain a little so the connection can be reused; never echo it anywhere.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))

	attempt.StatusCode = resp.StatusCode
	attempt.Outcome = classifyCallbackStatus(resp.StatusCode)
	if attempt.Outcome == AttemptRetry {
		attempt.RetryAfter = origin.ParseRetryAfter(resp.Header.Get("Retry-After"), a.now())
	}
	if attempt.Outcome != AttemptDelivered {
		attempt.Error = fmt.Sprintf("callback endpoint answered %d", resp.StatusCode)
	}
	return attempt, nil
}

func classifyCallbackStatus(code int) AttemptOutcome {
	switch {
	case code >= 200 && code < 300:
		return AttemptDelivered
	case code == http.StatusGone:
		return AttemptGone
	case code == http.StatusRequestTimeout || code == http.StatusTooManyRequests:
		return AttemptRetry
	case code >= 400 && code < 500:
		return AttemptRejected
	default: // 1xx, 3xx (redirects are not followed), 5xx
		return AttemptRetry
	}
}

// describeCallbackError keeps the URL (which may carry a token) out of the
// message that ends up in workflow history.
func describeCallbackError(err error) string {
	var uerr *url.Error
	if errors.As(err, &uerr) {
		if uerr.Timeout() {
			return "no response before the timeout"
		}
		err = uerr.Err
	}
	return err.Error()
}

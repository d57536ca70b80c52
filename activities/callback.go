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

	"github.com/wochit-ingest/wochit-ingest/internal/safehttp"
)

// Event types sent to the customer's backend.
const (
	EventVideoStored = "video.stored"
	EventVideoFailed = "video.failed"
)

// Event is the JSON body of a callback.
type Event struct {
	Type      string    `json:"type"`
	Timestamp time.Time `json:"timestamp"`
	Data      EventData `json:"data"`
}

// EventData carries either the two stored objects (video.stored) or the
// reason the ingest failed (video.failed).
type EventData struct {
	WochitVideoID string        `json:"wochitVideoId"`
	VideoContext  string        `json:"videoContext"`
	Title         string        `json:"title"`
	WorkflowID    string        `json:"workflowId"`
	Video         *StoredObject `json:"video,omitempty"`
	Thumbnail     *StoredObject `json:"thumbnail,omitempty"`
	Reason        string        `json:"reason,omitempty"`
	Message       string        `json:"message,omitempty"`
}

// CallbackInput is one attempt at delivering an event.
type CallbackInput struct {
	// WebhookID is the same for every attempt of one delivery, so receivers
	// can deduplicate on it.
	WebhookID string
	Event     Event
	Attempt   int
}

// CallbackOutcome classifies one attempt's response.
type CallbackOutcome string

const (
	CallbackDelivered CallbackOutcome = "delivered" // 2xx
	CallbackRetry     CallbackOutcome = "retry"     // 408, 429, 5xx, 3xx, network error, timeout
	CallbackGone      CallbackOutcome = "gone"      // 410: the endpoint asks us to stop
	CallbackRejected  CallbackOutcome = "rejected"  // other 4xx: retrying would not help
)

// CallbackAttempt records one attempt for the status query and the result.
type CallbackAttempt struct {
	Attempt    int
	At         time.Time
	StatusCode int `json:",omitempty"`
	Latency    time.Duration
	Outcome    CallbackOutcome
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
		return CallbackAttempt{}, permanent(ErrCallbackNotConfigured, nil, "no callback URL or secret configured on this worker")
	}
	body, err := json.Marshal(in.Event)
	if err != nil {
		return CallbackAttempt{}, permanent(ErrInvalidInput, err, "encoding event")
	}

	ctx, cancel := context.WithTimeout(ctx, CallbackTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.CallbackURL, bytes.NewReader(body))
	if err != nil {
		return CallbackAttempt{}, permanent(ErrCallbackNotConfigured, nil, "callback URL: %v", err)
	}
	start := a.now()
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "wochit-ingest")
	a.Signer.SetHeaders(req.Header, in.WebhookID, start, body)

	attempt := CallbackAttempt{Attempt: in.Attempt, At: start}
	resp, err := a.Callback.Do(req)
	attempt.Latency = a.now().Sub(start)
	if err != nil {
		attempt.Outcome = CallbackRetry
		attempt.Error = describeCallbackError(err)
		if safehttp.IsBlocked(err) {
			attempt.Outcome = CallbackRejected
		}
		return attempt, nil
	}
	defer resp.Body.Close()
	// Drain a little so the connection can be reused; never echo it anywhere.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))

	attempt.StatusCode = resp.StatusCode
	attempt.Outcome = classifyCallbackStatus(resp.StatusCode)
	if attempt.Outcome == CallbackRetry {
		attempt.RetryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), a.now())
	}
	if attempt.Outcome != CallbackDelivered {
		attempt.Error = fmt.Sprintf("callback endpoint answered %d", resp.StatusCode)
	}
	return attempt, nil
}

func classifyCallbackStatus(code int) CallbackOutcome {
	switch {
	case code >= 200 && code < 300:
		return CallbackDelivered
	case code == http.StatusGone:
		return CallbackGone
	case code == http.StatusRequestTimeout || code == http.StatusTooManyRequests:
		return CallbackRetry
	case code >= 400 && code < 500:
		return CallbackRejected
	default: // 1xx, 3xx (redirects are not followed), 5xx
		return CallbackRetry
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

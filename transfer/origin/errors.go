package origin

import (
	"fmt"
	"net/url"
	"regexp"
	"time"

	"github.com/wochit-ingest/wochit-ingest/contract"
)

// Error is a request to the origin that failed, typed with the reason the
// transfer fails with. Its message quotes URLs without their query string.
type Error struct {
	Reason contract.Reason
	// Final: another attempt would fail the same way.
	Final bool
	// RetryAfter is the delay the origin asked for (Retry-After, capped at
	// MaxRetryAfter); zero when it named none.
	RetryAfter time.Duration
	msg        string
}

func (e *Error) Error() string { return e.msg }

func permanent(reason contract.Reason, format string, args ...any) *Error {
	return &Error{Reason: reason, Final: true, msg: RedactURLs(fmt.Sprintf(format, args...))}
}

func retryable(reason contract.Reason, format string, args ...any) *Error {
	return &Error{Reason: reason, msg: RedactURLs(fmt.Sprintf(format, args...))}
}

// RedactURL drops the query string, fragment and userinfo: signed-URL tokens
// are secrets and must not reach logs, object metadata or workflow history.
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparseable URL)"
	}
	u.User, u.RawQuery, u.ForceQuery, u.Fragment, u.RawFragment = nil, "", false, "", ""
	return u.String()
}

var urlInText = regexp.MustCompile(`(?i)\bhttps?://[^\s"'<>]+`)

// RedactURLs applies RedactURL to every http(s) URL quoted in text.
func RedactURLs(text string) string {
	return urlInText.ReplaceAllStringFunc(text, RedactURL)
}

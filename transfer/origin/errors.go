package origin

import (
	"fmt"
	"time"

	"github.com/wochit-ingest/wochit-ingest/contract"

	"github.com/wochit-ingest/wochit-ingest/internal/redact"
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
	return &Error{Reason: reason, Final: true, msg: redact.Text(fmt.Sprintf(format, args...))}
}

func retryable(reason contract.Reason, format string, args ...any) *Error {
	return &Error{Reason: reason, msg: redact.Text(fmt.Sprintf(format, args...))}
}

package safehttp

import (
	"context"
	"errors"
	"net"
	"syscall"
	"testing"
	"time"
)

// Each of several addresses gets its share of the dial time, so one that
// never answers cannot starve the others.
func TestDialPartialSharesTheDeadline(t *testing.T) {
	var got time.Duration
	errStop := errors.New("stop before connecting")
	d := &net.Dialer{Timeout: 10 * time.Second, ControlContext: func(ctx context.Context, _, _ string, _ syscall.RawConn) error {
		dl, _ := ctx.Deadline()
		got = time.Until(dl)
		return errStop
	}}
	tests := []struct {
		left     int
		min, max time.Duration
	}{
		{4, 2 * time.Second, 2600 * time.Millisecond},          // 10 s / 4
		{10, 1900 * time.Millisecond, 2100 * time.Millisecond}, // at least 2 s
		{1, 9 * time.Second, 10 * time.Second},                 // the last one gets all that is left
	}
	for _, tt := range tests {
		deadline := dialDeadline(context.Background(), d)
		if _, err := dialPartial(context.Background(), d, "tcp", "127.0.0.1:9", deadline, tt.left); !errors.Is(err, errStop) {
			t.Fatalf("dial: %v", err)
		}
		if got < tt.min || got > tt.max {
			t.Errorf("with %d addresses left the attempt got %s, want %s–%s", tt.left, got, tt.min, tt.max)
		}
	}
}

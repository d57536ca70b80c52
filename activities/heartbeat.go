package activities

import (
	"context"
	"time"

	"go.temporal.io/sdk/activity"
)

// heartbeatEvery records progress now, every interval, and once more when
// stopped, so a failed attempt leaves its final progress (the parts it
// finished) for the next attempt. The SDK throttles what it sends; this loop
// only keeps the hot read path free of heartbeat calls.
func heartbeatEvery(ctx context.Context, interval time.Duration, details func() any) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(interval)
		defer t.Stop()
		activity.RecordHeartbeat(ctx, details())
		for {
			select {
			case <-done:
				activity.RecordHeartbeat(ctx, details())
				return
			case <-ctx.Done():
				return
			case <-t.C:
				activity.RecordHeartbeat(ctx, details())
			}
		}
	}()
	return func() { close(done); <-finished }
}

package activities

import (
	"context"
	"sync"
	"time"

	"github.com/wochit-ingest/wochit-ingest/contract"

	"go.temporal.io/sdk/activity"

	"github.com/wochit-ingest/wochit-ingest/transfer"
)

// heartbeat is the one heartbeat loop of a transfer attempt. It runs from
// the copy's first report, before its first network request, until the
// attempt returns, so no stage that waits on the network — looking for a
// stored copy, the probe, reading a small file, copying parts, composing,
// cleaning up — can outlast the heartbeat timeout and leave a live attempt
// running in a slot after Temporal gave up on it. What it records is the
// latest progress the copy reported (set).
type heartbeat struct {
	mu       sync.Mutex
	latest   TransferProgress
	has      bool
	first    chan struct{} // the first report: record it at once
	done     chan struct{}
	finished chan struct{}
}

// startHeartbeat records the progress reported so far now, every interval,
// and once more when stopped, so a failed attempt leaves its final progress
// (the parts it finished) for the next attempt. The SDK throttles what it
// sends; the copy only hands over progress, its hot read path makes no
// heartbeat calls.
func startHeartbeat(ctx context.Context, interval time.Duration) *heartbeat {
	h := &heartbeat{first: make(chan struct{}, 1), done: make(chan struct{}), finished: make(chan struct{})}
	if !activity.IsActivity(ctx) {
		close(h.finished)
		return h
	}
	go func() {
		defer close(h.finished)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-h.first:
				h.record(ctx)
			case <-h.done:
				h.record(ctx)
				return
			case <-ctx.Done():
				return
			case <-t.C:
				h.record(ctx)
			}
		}
	}()
	return h
}

// set is the copy's Progress callback.
func (h *heartbeat) set(p transfer.Progress) {
	h.mu.Lock()
	first := !h.has
	h.latest, h.has = TransferProgress(p), true
	h.mu.Unlock()
	if first {
		h.first <- struct{}{}
	}
}

func (h *heartbeat) record(ctx context.Context) {
	h.mu.Lock()
	p, has := h.latest, h.has
	h.mu.Unlock()
	if has {
		activity.RecordHeartbeat(ctx, p)
	}
}

func (h *heartbeat) stop() {
	close(h.done)
	<-h.finished
}

// previousProgress is the last heartbeat of an earlier attempt, if any.
func previousProgress(ctx context.Context, kind contract.AssetKind) TransferProgress {
	var p TransferProgress
	if activity.IsActivity(ctx) && activity.HasHeartbeatDetails(ctx) && activity.GetHeartbeatDetails(ctx, &p) == nil && p.Kind == kind {
		return p
	}
	return TransferProgress{Kind: kind, Total: -1}
}

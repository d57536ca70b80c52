package activities

import (
	"context"
	"sync"
	"time"

	"github.com/wochit-ingest/wochit-ingest/contract"

	"go.temporal.io/sdk/activity"
)

// heartbeat is the one heartbeat loop of a transfer attempt. It starts
// before the first network request and lives until the attempt returns, so
// no stage that waits on the network — looking for a stored copy, the
// probe, reading a small file, copying parts, composing, cleaning up — can
// outlast the heartbeat timeout and leave a live attempt running in a slot
// after Temporal gave up on it. Stages say what progress it reports.
type heartbeat struct {
	mu              sync.Mutex
	current         func() TransferProgress
	incompleteSince time.Time // carried by every report, whatever the stage
	done            chan struct{}
	finished        chan struct{}
}

// startHeartbeat records progress now, every interval, and once more when
// stopped, so a failed attempt leaves its final progress (the parts it
// finished) for the next attempt. The SDK throttles what it sends; the loop
// keeps the hot read path free of heartbeat calls.
func startHeartbeat(ctx context.Context, interval time.Duration, initial TransferProgress) *heartbeat {
	h := &heartbeat{
		current:         func() TransferProgress { return initial },
		incompleteSince: initial.IncompleteSince,
		done:            make(chan struct{}),
		finished:        make(chan struct{}),
	}
	if !activity.IsActivity(ctx) {
		close(h.finished)
		return h
	}
	go func() {
		defer close(h.finished)
		t := time.NewTicker(interval)
		defer t.Stop()
		activity.RecordHeartbeat(ctx, h.progress())
		for {
			select {
			case <-h.done:
				activity.RecordHeartbeat(ctx, h.progress())
				return
			case <-ctx.Done():
				return
			case <-t.C:
				activity.RecordHeartbeat(ctx, h.progress())
			}
		}
	}()
	return h
}

// report makes f the source of the progress reported from now on.
func (h *heartbeat) report(f func() TransferProgress) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.current = f
}

func (h *heartbeat) progress() TransferProgress {
	h.mu.Lock()
	f, since := h.current, h.incompleteSince
	h.mu.Unlock()
	p := f()
	p.IncompleteSince = since
	return p
}

// markIncomplete records that the file was found unfinished at now, unless
// an earlier attempt did first, and returns when that was.
func (h *heartbeat) markIncomplete(now time.Time) time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.incompleteSince.IsZero() {
		h.incompleteSince = now
	}
	return h.incompleteSince
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

// resumable reports whether p is a parted transfer a later attempt can
// continue: its part size, and the validator of the version its parts are of.
func (p TransferProgress) resumable() bool {
	return p.PartSize > 0 && p.Validator != "" && p.Total > 0
}

// initialProgress is what an attempt reports before it knows better: a
// resumable predecessor's progress is carried on, so an attempt that fails
// early (say, at the probe) does not erase the record of the parts done.
func initialProgress(previous TransferProgress) TransferProgress {
	if previous.resumable() {
		return previous
	}
	return TransferProgress{Kind: previous.Kind, Total: -1, IncompleteSince: previous.IncompleteSince}
}

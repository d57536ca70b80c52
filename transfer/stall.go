package transfer

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wochit-ingest/wochit-ingest/contract"
	"github.com/wochit-ingest/wochit-ingest/internal/failure"
)

// The idle timeout cuts a request whose origin sends nothing at all; an
// origin that sends a byte just before every idle timeout would hold the
// attempt, and its slot, until the attempt's own timeout. The progress
// watchdog demands a rate instead: while an attempt waits on its origin, it
// must receive at least MinProgress bytes in every ProgressWindow, or the
// attempt is cut (its verified parts stay for the next one).

// stallSteps is how many steps a window is measured in: a stalled attempt is
// cut between one window and one window and a step after the bytes stopped.
const stallSteps = 8

var errStalled = errors.New("the origin sent too little for too long")

// stallWatchdog watches the bytes one attempt receives from its origin.
type stallWatchdog struct {
	window time.Duration
	min    int64
	cut    context.CancelCauseFunc

	received atomic.Int64 // bytes since the last step
	held     atomic.Int32 // >0 while waiting on GCS, not on the origin
	mu       sync.Mutex
	steps    [stallSteps]int64 // bytes per step, a ring
	filled   int               // steps measured since the window (re)started
	next     int
	stopped  bool
	last     int64 // the bytes of the window that cut the attempt
	done     chan struct{}
}

// watchStalls cancels ctx (with errStalled) when the origin sends fewer
// than min bytes in a window. It watches until stop.
func watchStalls(ctx context.Context, window time.Duration, min int64) (context.Context, *stallWatchdog) {
	ctx, cancel := context.WithCancelCause(ctx)
	w := &stallWatchdog{window: window, min: min, cut: cancel, last: -1, done: make(chan struct{})}
	go w.run()
	return ctx, w
}

func (w *stallWatchdog) run() {
	t := time.NewTicker(w.window / stallSteps)
	defer t.Stop()
	for {
		select {
		case <-w.done:
			return
		case <-t.C:
			if w.step() {
				return
			}
		}
	}
}

// step closes one step of the window; true when the attempt was cut.
func (w *stallWatchdog) step() bool {
	n := w.received.Swap(0)
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.stopped {
		return true
	}
	if w.held.Load() > 0 {
		w.filled = 0 // the window starts again once the origin is waited on
		return false
	}
	w.steps[w.next] = n
	w.next = (w.next + 1) % stallSteps
	w.filled++
	if w.filled < stallSteps {
		return false
	}
	var sum int64
	for _, s := range w.steps {
		sum += s
	}
	if sum >= w.min {
		return false
	}
	w.last = sum
	w.cut(errStalled)
	return true
}

// add counts bytes received from the origin.
func (w *stallWatchdog) add(n int) { w.received.Add(int64(n)) }

// hold suspends the watch while the attempt waits on GCS rather than on its
// origin; the window starts again when the returned release is called.
func (w *stallWatchdog) hold() (release func()) {
	w.held.Add(1)
	return func() { w.held.Add(-1) }
}

// stop ends the watch: from here on the attempt only talks to GCS.
func (w *stallWatchdog) stop() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.stopped {
		w.stopped = true
		close(w.done)
	}
}

// stalled reports whether the watchdog cut the attempt, and if so the
// failure it ends with. Its fingerprint is the same however many bytes
// trickled in, so a second stall in a row waits (settle).
func (w *stallWatchdog) stalled(source string) (error, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.last < 0 {
		return nil, false
	}
	cut := failure.Retryable(contract.OriginUnavailable, nil, "cut the attempt: %s sent %d bytes in %s, less than %d; the parts verified so far are kept",
		source, w.last, w.window, w.min)
	cut.Fingerprint = "stalled"
	return cut, true
}

// close stops the watch and releases its context, once the attempt is over.
func (w *stallWatchdog) close() {
	w.stop()
	w.cut(nil)
}

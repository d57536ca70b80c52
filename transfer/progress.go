package transfer

import (
	"sync"
	"time"
)

// reporter is the one progress loop of a copy. It starts before the first
// network request and lives until Copy returns; stages say what progress it
// reports (report), the hot read path only counts. What it reports also
// carries when the file was first found unfinished and how long a range the
// origin serves, whatever the stage.
type reporter struct {
	mu              sync.Mutex
	current         func() Progress
	incompleteSince time.Time
	failures        Failures
	rangeCap        int64
	send            func(Progress)
	done            chan struct{}
	finished        chan struct{}
}

// startReporter sends progress now, every interval, and once more when
// stopped, so a failed attempt leaves its final progress (the parts it
// finished) for the next attempt. send nil: nothing is reported.
func startReporter(send func(Progress), interval time.Duration, initial Progress) *reporter {
	r := &reporter{
		current:         func() Progress { return initial },
		incompleteSince: initial.IncompleteSince,
		failures:        initial.Failures,
		rangeCap:        initial.RangeCap,
		send:            send,
		done:            make(chan struct{}),
		finished:        make(chan struct{}),
	}
	if send == nil {
		close(r.finished)
		return r
	}
	send(r.progress())
	go func() {
		defer close(r.finished)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-r.done:
				return
			case <-t.C:
				r.send(r.progress())
			}
		}
	}()
	return r
}

// report makes f the source of the progress reported from now on.
func (r *reporter) report(f func() Progress) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.current = f
}

func (r *reporter) progress() Progress {
	r.mu.Lock()
	f, since, failures, rangeCap := r.current, r.incompleteSince, r.failures, r.rangeCap
	r.mu.Unlock()
	p := f()
	p.IncompleteSince, p.Failures, p.RangeCap = since, failures, rangeCap
	return p
}

// setFailures records what this attempt's failure adds to the earlier ones',
// for the last report.
func (r *reporter) setFailures(f Failures) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failures = f
}

// capRanges records that the origin served only n bytes of a part's range,
// for the next attempt to plan by.
func (r *reporter) capRanges(n int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.rangeCap == 0 || n < r.rangeCap {
		r.rangeCap = n
	}
}

// markIncomplete records that the file was found unfinished at now, unless
// an earlier attempt did first, and returns when that was.
func (r *reporter) markIncomplete(now time.Time) time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.incompleteSince.IsZero() {
		r.incompleteSince = now
	}
	return r.incompleteSince
}

func (r *reporter) stop() {
	if r.send == nil {
		return
	}
	close(r.done)
	<-r.finished
	r.send(r.progress())
}

// initialProgress is what a copy reports before it knows better: a
// resumable predecessor's progress is carried on, so an attempt that fails
// early (say, at the probe) does not erase the record of the parts done.
func initialProgress(previous Progress) Progress {
	if previous.resumable() {
		return previous
	}
	return Progress{Kind: previous.Kind, Total: -1, IncompleteSince: previous.IncompleteSince, Failures: previous.Failures, RangeCap: previous.RangeCap}
}

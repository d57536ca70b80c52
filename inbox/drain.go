package inbox

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.temporal.io/sdk/client"

	"github.com/wochit-ingest/wochit-ingest/workflows"
)

// Drain defaults.
const (
	// DefaultDrainInterval is the pause between passes over the inbox: the
	// drain notices Temporal's return within about this long.
	DefaultDrainInterval = 2 * time.Second
	// DefaultPageSize is how many objects one list call returns.
	DefaultPageSize = 500
	// DefaultConcurrency is how many notifications one drainer starts at
	// once: a start is a round trip to Temporal (tens of milliseconds, more
	// under load), so one at a time leaves a backlog of hundreds draining
	// for tens of seconds.
	DefaultConcurrency = 12
	// startTimeout bounds one workflow start during a drain.
	startTimeout = 10 * time.Second
)

// Drainer starts the runs of the notifications waiting in an inbox. Any
// number of drainers (one per worker) may run at once, with no leader: the
// workflow id policies make the start exactly-once per video, and an object
// is deleted only after its start succeeded, and only in the generation that
// was read.
type Drainer struct {
	Inbox    *Inbox
	Temporal client.Client
	Start    workflows.StartOptions
	Interval time.Duration // DefaultDrainInterval when zero
	PageSize int           // DefaultPageSize when zero
	Metrics  *Metrics      // nil records none
	Logger   *slog.Logger
	Now      func() time.Time
	// Concurrency bounds the notifications started at once;
	// DefaultConcurrency when zero.
	Concurrency int
}

// PassResult says what one pass over the inbox did.
type PassResult struct {
	Started, Duplicates, Conflicts, Unreadable int
	// Failed counts starts Temporal refused for the notification's own
	// reason (not unavailability): left in place, the pass goes on.
	Failed int
	// Left is the number of entries still waiting after the pass, Oldest the
	// creation time of the oldest of them (zero when none).
	Left   int
	Oldest time.Time
	// Stopped is why starting stopped early (Temporal unavailable), if it did.
	Stopped error
}

// Run drains the inbox until ctx is done, a pass every Interval.
func (d *Drainer) Run(ctx context.Context) error {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if _, err := d.Pass(ctx); err != nil && ctx.Err() == nil {
			d.log().Warn("inbox drain pass failed; trying again", "error", err)
		}
		t.Reset(cmp.Or(d.Interval, DefaultDrainInterval))
	}
}

// Pass goes once through the inbox, page by page: it starts each waiting
// notification's run and deletes its object, up to Concurrency at once. Each
// page is taken in a random order, so drainers passing at the same time
// mostly start different notifications instead of racing for the same ones
// (a race is harmless, only wasted: the second start finds the first run).
// Once Temporal refuses a start, the rest of the pass only counts what is
// waiting.
func (d *Drainer) Pass(ctx context.Context) (PassResult, error) {
	p := pass{d: d, sem: make(chan struct{}, max(1, cmp.Or(d.Concurrency, DefaultConcurrency)))}
	pageSize := cmp.Or(d.PageSize, DefaultPageSize)
	page := make([]Entry, 0, pageSize)
	err := d.Inbox.List(ctx, pageSize, func(e Entry) error {
		if page = append(page, e); len(page) == pageSize {
			p.page(ctx, page)
			page = page[:0]
		}
		return ctx.Err()
	})
	if err == nil {
		p.page(ctx, page)
		err = ctx.Err()
	}
	res := p.res
	if err != nil {
		return res, err
	}
	now := time.Now
	if d.Now != nil {
		now = d.Now
	}
	if m := d.Metrics; m != nil {
		m.depth.Set(float64(res.Left))
		age := 0.0
		if !res.Oldest.IsZero() {
			age = max(0, now().Sub(res.Oldest).Seconds())
		}
		m.oldestAge.Set(age)
	}
	if res.Started+res.Duplicates+res.Conflicts > 0 || res.Stopped != nil {
		d.log().Info("inbox drain pass", "started", res.Started, "duplicates", res.Duplicates, "conflicts", res.Conflicts,
			"unreadable", res.Unreadable, "failed", res.Failed, "left", res.Left, "stoppedBy", errString(res.Stopped))
	}
	return res, nil
}

// pass is the state of one Pass: its result, shared by the starts in flight.
type pass struct {
	d   *Drainer
	sem chan struct{} // a slot per start in flight
	mu  sync.Mutex
	res PassResult
}

// page drains the entries of one page, in a random order, Concurrency at a
// time, and returns once all are done.
func (p *pass) page(ctx context.Context, entries []Entry) {
	rand.Shuffle(len(entries), func(i, j int) { entries[i], entries[j] = entries[j], entries[i] })
	var wg sync.WaitGroup
	for _, e := range entries {
		p.mu.Lock()
		stopped := p.res.Stopped != nil
		p.mu.Unlock()
		if stopped || ctx.Err() != nil {
			p.left(e)
			continue
		}
		p.sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-p.sem }()
			var r PassResult
			done, err := p.d.drainOne(ctx, e, &r)
			p.mu.Lock()
			p.res.Started += r.Started
			p.res.Duplicates += r.Duplicates
			p.res.Conflicts += r.Conflicts
			p.res.Unreadable += r.Unreadable
			p.res.Failed += r.Failed
			if err != nil && p.res.Stopped == nil {
				p.res.Stopped = err
			}
			p.mu.Unlock()
			if !done {
				p.left(e)
			}
		})
	}
	wg.Wait()
}

// left counts e as still waiting.
func (p *pass) left(e Entry) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.res.Left++
	if p.res.Oldest.IsZero() || e.Created.Before(p.res.Oldest) {
		p.res.Oldest = e.Created
	}
}

// drainOne starts e's run and removes e. It answers whether e is gone, and
// an error when Temporal (or the bucket) failed so the pass should stop.
func (d *Drainer) drainOne(ctx context.Context, e Entry, res *PassResult) (done bool, err error) {
	in, err := d.Inbox.Read(ctx, e)
	if err != nil {
		if errors.Is(err, errNotFound) {
			return true, nil // drained by another worker meanwhile
		}
		if !errors.Is(err, errUndecodable) {
			return false, err
		}
		// A key this process lacks (mid-rotation), or damage: it stays, is
		// counted in the depth, and another worker (or a later one) may read it.
		res.Unreadable++
		d.metric(resultUnreadable)
		d.log().Error("inbox object cannot be read; left in place", "object", e.Name, "error", err)
		return false, nil
	}
	startCtx, cancel := context.WithTimeout(ctx, startTimeout)
	runID, started, err := workflows.StartIngest(startCtx, d.Temporal, d.Start, in)
	cancel()
	workflowID := workflows.WorkflowID(in.Notification.WochitVideoID)
	var conflict *workflows.ConflictError
	switch {
	case errors.As(err, &conflict):
		dst, err := d.Inbox.SetAside(ctx, e)
		if err != nil {
			return false, err
		}
		res.Conflicts++
		d.metric(resultConflict)
		d.log().Warn("queued notification conflicts with the run already started for its wochitVideoId; set aside, not processed",
			"wochitVideoId", in.Notification.WochitVideoID, "workflowId", conflict.WorkflowID, "runId", conflict.RunID, "object", dst)
		return true, nil
	case err != nil && workflows.TemporalUnavailable(err):
		return false, err // Temporal's state: the rest of the pass would fail alike
	case err != nil:
		// This notification's own trouble (an invalid request, a run whose
		// input this key cannot read...): it stays for a later pass and
		// for the operator, and must not hold back the entries after it.
		res.Failed++
		d.metric(resultFailed)
		d.log().Error("queued notification could not be started; left in place",
			"wochitVideoId", in.Notification.WochitVideoID, "workflowId", workflowID, "object", e.Name, "error", err)
		return false, nil
	}
	if err := d.Inbox.Delete(ctx, e); err != nil {
		return false, err
	}
	if started {
		res.Started++
		d.metric(resultStarted)
	} else {
		res.Duplicates++
		d.metric(resultDuplicate)
	}
	d.log().Info("queued notification started", "wochitVideoId", in.Notification.WochitVideoID, "workflowId", workflowID,
		"runId", runID, "started", started, "receivedAt", in.ReceivedAt)
	return true, nil
}

func (d *Drainer) metric(result string) {
	if d.Metrics != nil {
		d.Metrics.drained.WithLabelValues(result).Inc()
	}
}

func (d *Drainer) log() *slog.Logger {
	if d.Logger == nil {
		return slog.Default()
	}
	return d.Logger
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// Results of draining one entry, the "result" label of
// wochit_inbox_drained_total.
const (
	resultStarted    = "started"
	resultDuplicate  = "duplicate"
	resultConflict   = "conflict"
	resultUnreadable = "unreadable"
	resultFailed     = "failed"
)

// Metrics are the drain's series. Every drainer lists the whole inbox, so
// each reports the same depth: aggregate with max, not sum.
type Metrics struct {
	depth     prometheus.Gauge
	oldestAge prometheus.Gauge
	drained   *prometheus.CounterVec
}

// NewMetrics registers the drain's metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		depth: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "wochit_inbox_depth",
			Help: "Notifications waiting in the inbox for Temporal, after this worker's last pass (every worker sees the whole inbox: use max).",
		}),
		oldestAge: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "wochit_inbox_oldest_age_seconds",
			Help: "Age of the oldest notification waiting in the inbox after this worker's last pass; 0 when empty.",
		}),
		drained: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wochit_inbox_drained_total",
			Help: "Inbox entries handled by the drain, by result: started, duplicate (its run existed), conflict (set aside under conflicts/, not processed), unreadable (left in place), failed (Temporal refused this start for a reason of its own; left in place).",
		}, []string{"result"}),
	}
	reg.MustRegister(m.depth, m.oldestAge, m.drained)
	for _, r := range []string{resultStarted, resultDuplicate, resultConflict, resultUnreadable, resultFailed} {
		m.drained.WithLabelValues(r)
	}
	return m
}

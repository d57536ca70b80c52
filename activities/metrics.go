package activities

import (
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/wochit-ingest/wochit-ingest/contract"
)

// Metrics are the transfer and callback figures the worker exports. Every
// label value comes from a fixed set (asset kinds, event types, attempt
// outcomes, contract.Reasons), never from input, so their cardinality is
// bounded whatever origins and callback endpoints answer.
type Metrics struct {
	Bytes             *prometheus.CounterVec
	Duration          *prometheus.HistogramVec
	Transfers         *prometheus.CounterVec
	IntegrityFailures *prometheus.CounterVec
	// Headroom is how long before its link expired each file was stored:
	// small values mean videos come close to being lost to expiry.
	Headroom *prometheus.HistogramVec
	// CallbackAttempts and CallbackDuration cover each HTTP attempt at
	// delivering a callback, by event type and outcome.
	CallbackAttempts *prometheus.CounterVec
	CallbackDuration *prometheus.HistogramVec
}

// HeadroomBuckets are the buckets of wochit_transfer_deadline_headroom_seconds:
// from the 10-minute safety margin to a 7-day signed URL.
var HeadroomBuckets = []float64{
	(10 * time.Minute).Seconds(), (30 * time.Minute).Seconds(), time.Hour.Seconds(), (2 * time.Hour).Seconds(),
	(4 * time.Hour).Seconds(), (8 * time.Hour).Seconds(), (12 * time.Hour).Seconds(), (18 * time.Hour).Seconds(),
	(23 * time.Hour).Seconds(), (24 * time.Hour).Seconds(), (48 * time.Hour).Seconds(), (7 * 24 * time.Hour).Seconds(),
}

// Transfer outcomes besides the failure reasons (the "outcome" label of
// wochit_transfers_total).
const (
	transferStored    = "stored"    // copied and verified
	transferReused    = "reused"    // an earlier attempt or run had stored it
	transferCancelled = "cancelled" // the attempt's context ended (cancelled, timed out, worker stopping)
)

// callbackEvents and callbackOutcomes are the label sets of the callback
// series, exported as zeros from the start.
var (
	callbackEvents   = []contract.EventType{contract.VideoStored, contract.VideoFailed}
	callbackOutcomes = []AttemptOutcome{AttemptDelivered, AttemptRetry, AttemptGone, AttemptRejected}
)

// NewMetrics creates the transfer metrics and registers them with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wochit_transfer_bytes_total", Help: "Bytes read from origins and written to GCS.",
		}, []string{"kind"}),
		Duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "wochit_transfer_duration_seconds", Help: "Duration of transfer attempts.",
			Buckets: prometheus.ExponentialBuckets(0.1, 2, 16),
		}, []string{"kind", "outcome"}),
		Transfers: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wochit_transfers_total", Help: "Transfer attempts by outcome: stored, reused, cancelled, or the failure reason (contract.Reasons).",
		}, []string{"kind", "outcome"}),
		IntegrityFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wochit_transfer_integrity_failures_total", Help: "Objects whose stored size or CRC32C differed from what was read (deleted and retried).",
		}, []string{"kind"}),
		Headroom: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "wochit_transfer_deadline_headroom_seconds",
			Help:    "Time left before the file's link expired when it was stored (reused copies not counted).",
			Buckets: HeadroomBuckets,
		}, []string{"kind"}),
		CallbackAttempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wochit_callback_attempts_total",
			Help: "Callback HTTP attempts by event (stored, failed) and outcome (delivered, retry, gone, rejected).",
		}, []string{"event", "outcome"}),
		CallbackDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "wochit_callback_duration_seconds",
			Help:    "Time from sending a callback to its answer (or the error), by event and outcome.",
			Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 15},
		}, []string{"event", "outcome"}),
	}
	reg.MustRegister(m.Bytes, m.Duration, m.Transfers, m.IntegrityFailures, m.Headroom, m.CallbackAttempts, m.CallbackDuration)
	// Export zeros from the start, so a dashboard or alert sees the series
	// before the first event.
	for _, kind := range []contract.AssetKind{contract.KindVideo, contract.KindThumbnail} {
		m.Bytes.WithLabelValues(string(kind))
		m.IntegrityFailures.WithLabelValues(string(kind))
		m.Headroom.WithLabelValues(string(kind))
		for _, outcome := range []string{transferStored, transferReused} {
			m.Transfers.WithLabelValues(string(kind), outcome)
		}
	}
	for _, event := range callbackEvents {
		for _, outcome := range callbackOutcomes {
			m.CallbackAttempts.WithLabelValues(EventLabel(event), string(outcome))
			m.CallbackDuration.WithLabelValues(EventLabel(event), string(outcome))
		}
	}
	return m
}

func (m *Metrics) integrityFailure(kind contract.AssetKind) {
	if m != nil {
		m.IntegrityFailures.WithLabelValues(string(kind)).Inc()
	}
}

func (m *Metrics) addBytes(kind contract.AssetKind, n int64) {
	if m != nil && n > 0 {
		m.Bytes.WithLabelValues(string(kind)).Add(float64(n))
	}
}

func (m *Metrics) attempt(kind contract.AssetKind, outcome string, seconds float64) {
	if m != nil {
		m.Transfers.WithLabelValues(string(kind), outcome).Inc()
		m.Duration.WithLabelValues(string(kind), outcome).Observe(seconds)
	}
}

// stored records how long before its link's expiry a file was stored. An
// unknown expiry (zero) records nothing.
func (m *Metrics) stored(kind contract.AssetKind, linkExpiresAt, now time.Time) {
	if m != nil && !linkExpiresAt.IsZero() {
		m.Headroom.WithLabelValues(string(kind)).Observe(linkExpiresAt.Sub(now).Seconds())
	}
}

// callbackAttempt counts one callback attempt that was sent.
func (m *Metrics) callbackAttempt(event contract.EventType, a CallbackAttempt) {
	if m == nil {
		return
	}
	e := EventLabel(event)
	m.CallbackAttempts.WithLabelValues(e, string(a.Outcome)).Inc()
	m.CallbackDuration.WithLabelValues(e, string(a.Outcome)).Observe(a.Latency.Seconds())
}

// EventLabel is an event type's "event" label value: stored (video.stored)
// or failed (video.failed); any other type is "other", so the set stays
// fixed. The workflows' series use it too, where the SDK's Prometheus
// sanitizer would turn a dot into an underscore.
func EventLabel(event contract.EventType) string {
	switch event {
	case contract.VideoStored, contract.VideoFailed:
		return strings.TrimPrefix(string(event), "video.")
	}
	return "other"
}

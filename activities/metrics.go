package activities

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/wochit-ingest/wochit-ingest/contract"
)

// Metrics are the transfer figures the worker exports (by asset kind).
type Metrics struct {
	Bytes             *prometheus.CounterVec
	Duration          *prometheus.HistogramVec
	Transfers         *prometheus.CounterVec
	IntegrityFailures *prometheus.CounterVec
}

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
			Name: "wochit_transfers_total", Help: "Transfer attempts by outcome (stored, reused, or the failure type).",
		}, []string{"kind", "outcome"}),
		IntegrityFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wochit_transfer_integrity_failures_total", Help: "Objects whose stored size or CRC32C differed from what was read (deleted and retried).",
		}, []string{"kind"}),
	}
	reg.MustRegister(m.Bytes, m.Duration, m.Transfers, m.IntegrityFailures)
	// Export zeros from the start, so a dashboard or alert sees the series
	// before the first event.
	for _, kind := range []contract.AssetKind{contract.KindVideo, contract.KindThumbnail} {
		m.Bytes.WithLabelValues(string(kind))
		m.IntegrityFailures.WithLabelValues(string(kind))
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

package ingress

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Outcomes of a notification, the "outcome" label of
// wochit_ingress_requests_total.
const (
	outcomeStarted     = "started"     // 202: a workflow was started
	outcomeQueued      = "queued"      // 202: Temporal did not take it; the inbox did
	outcomeDuplicate   = "duplicate"   // 200: the notification's workflow already existed
	outcomeRejected    = "rejected"    // 4xx: bad input, auth, limits
	outcomeUnavailable = "unavailable" // 5xx: Temporal did not accept it
)

// metrics are the ingress's Prometheus series. Every label value comes from a
// fixed set (outcomes, error codes), never from the request, so a hostile
// client cannot blow up their cardinality.
type metrics struct {
	requests       *prometheus.CounterVec
	startDuration  *prometheus.HistogramVec
	duplicates     prometheus.Counter
	conflicts      prometheus.Counter
	rateLimited    *prometheus.CounterVec
	unknownFields  prometheus.Counter
	startsInFlight prometheus.Gauge
	inboxDuration  *prometheus.HistogramVec
	contentTypes   *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wochit_ingress_requests_total",
			Help: "Notifications received, by outcome (started, queued, duplicate, rejected, unavailable) and error code (none on success).",
		}, []string{"outcome", "code"}),
		startDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "wochit_ingress_workflow_start_duration_seconds",
			Help:    "Time Temporal took to accept (or refuse) a workflow start, by result (started, duplicate, error).",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"result"}),
		duplicates: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "wochit_ingress_duplicates_total",
			Help: "Notifications for a video whose workflow already existed (answered 200 with that run).",
		}),
		conflicts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "wochit_ingress_conflicts_total",
			Help: "Notifications refused with 409 because their video's run was started by a different notification (other URLs, context or title).",
		}),
		rateLimited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wochit_ingress_rate_limited_total",
			Help: "Notifications answered 429, by reason: source (the per-source token bucket) or starts (too many workflow starts in flight).",
		}, []string{"reason"}),
		unknownFields: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "wochit_ingress_unknown_fields_total",
			Help: "Unknown JSON fields seen in accepted notifications (Wochit added something this version ignores).",
		}),
		startsInFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "wochit_ingress_workflow_starts_in_flight",
			Help: "Workflow starts waiting for Temporal right now.",
		}),
		inboxDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "wochit_ingress_inbox_write_duration_seconds",
			Help:    "Time an inbox write took for a notification Temporal did not take, by result (ok, error).",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"result"}),
		contentTypes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wochit_ingress_content_types_total",
			Help: "Notifications by declared Content-Type (a fixed set; anything else is other, an absent header none). Every type is accepted; the body decides.",
		}, []string{"type"}),
	}
	reg.MustRegister(m.requests, m.startDuration, m.duplicates, m.conflicts, m.rateLimited, m.unknownFields, m.startsInFlight,
		m.inboxDuration, m.contentTypes)
	for _, reason := range []string{"source", "starts"} {
		m.rateLimited.WithLabelValues(reason) // export zeros, so rate() works from the first scrape
	}
	return m
}

// observeRequest counts one answered notification.
func (m *metrics) observeRequest(status int, code string, queued bool) {
	outcome := outcomeRejected
	switch {
	case status == 202 && queued:
		outcome = outcomeQueued
	case status == 202:
		outcome = outcomeStarted
	case status == 200:
		outcome = outcomeDuplicate
	case status >= 500:
		outcome = outcomeUnavailable
	}
	if code == "" {
		code = "none"
	}
	m.requests.WithLabelValues(outcome, code).Inc()
}

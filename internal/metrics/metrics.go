// Package metrics sets up Prometheus metrics for a process: a registry with
// the Go runtime and process collectors, the Temporal SDK's metrics (through
// tally), and the /metrics handler.
package metrics

import (
	"io"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/uber-go/tally/v4"
	tallyprom "github.com/uber-go/tally/v4/prometheus"
	"go.temporal.io/sdk/client"
	sdktally "go.temporal.io/sdk/contrib/tally"
)

// NewRegistry returns a registry with the Go runtime and process collectors.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// SDKTimerBuckets are the buckets (seconds) of the SDK's latency series
// (temporal_*_latency_bucket): from a millisecond to the 30 minutes a video
// transfer attempt may take, so schedule-to-start under a backlog still
// lands in a bucket.
var SDKTimerBuckets = []float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800}

// SDKHandler exports the Temporal SDK's metrics (temporal_* series: polls,
// task latencies, slots, activity and workflow outcomes) through reg, and
// the workflows' own series (workflow.GetMetricsHandler). Latencies are
// histograms, so a quantile can be taken over every worker's buckets
// (histogram_quantile of the summed rates), which the summaries tally
// would make by default do not allow. Pass it as
// client.Options.MetricsHandler; close the returned Closer on shutdown.
func SDKHandler(reg prometheus.Registerer) (client.MetricsHandler, io.Closer) {
	reporter := tallyprom.NewReporter(tallyprom.Options{
		Registerer:              reg,
		DefaultTimerType:        tallyprom.HistogramTimerType,
		DefaultHistogramBuckets: SDKTimerBuckets,
	})
	scope, closer := tally.NewRootScope(tally.ScopeOptions{
		CachedReporter:  reporter,
		Separator:       tallyprom.DefaultSeparator,
		SanitizeOptions: &sdktally.PrometheusSanitizeOptions,
	}, time.Second)
	return sdktally.NewMetricsHandler(scope), closer
}

// Handler serves reg in the Prometheus text format.
func Handler(reg *prometheus.Registry) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})
}

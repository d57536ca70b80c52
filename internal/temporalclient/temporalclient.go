// Package temporalclient is where every wochit-ingest Temporal client is
// made — the commands' and the dev stack's — so each carries the same
// things: the payload codec, the SDK's logs and metrics, and the tracing
// interceptor. The connection itself (address, namespace, API key, TLS)
// comes from the configuration loader (internal/config) or the dev stack.
package temporalclient

import (
	"context"
	"io"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"

	"github.com/wochit-ingest/wochit-ingest/internal/metrics"
	"github.com/wochit-ingest/wochit-ingest/internal/payloadcodec"
	"github.com/wochit-ingest/wochit-ingest/internal/tracing"
)

// Options are what a client carries besides its connection.
type Options struct {
	// Logger hears the SDK, as component temporal-sdk; nil: nothing.
	Logger *slog.Logger
	// Metrics receives the SDK's metrics (temporal_* series); nil: none.
	Metrics prometheus.Registerer
	// Tracing adds its interceptor, so workflow and activity spans continue
	// the trace of whoever started the workflow; nil: none.
	Tracing *tracing.Tracing
	// Lazy connects on first use instead of now (client.NewLazyClient): for
	// the ingress, which starts, and reports not ready, while Temporal is
	// down.
	Lazy bool
}

// Encrypt sets opts' converters to encrypt every payload with ring: every
// client of a namespace needs the same keys.
func Encrypt(opts *client.Options, ring *payloadcodec.Keyring) {
	opts.DataConverter = payloadcodec.DataConverter(ring)
	opts.FailureConverter = payloadcodec.FailureConverter(ring)
}

// Dial connects to Temporal over conn (its converters set by Encrypt, for a
// worker's client passed through worker.ClientOptions) with what o adds.
// Call closeClient when done: it closes the client, then stops what Dial
// started for it (the metrics reporter).
func Dial(ctx context.Context, conn client.Options, o Options) (_ client.Client, closeClient func(), err error) {
	opts, stop, err := o.apply(conn)
	if err != nil {
		return nil, nil, err
	}
	var c client.Client
	if o.Lazy {
		c, err = client.NewLazyClient(opts)
	} else {
		c, err = client.DialContext(ctx, opts)
	}
	if err != nil {
		stop()
		return nil, nil, err
	}
	return c, func() { c.Close(); stop() }, nil
}

// apply returns conn with o's logger, metrics and interceptor, and what
// stops them.
func (o Options) apply(conn client.Options) (_ client.Options, stop func(), err error) {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	conn.Logger = sdklog.NewStructuredLogger(log.With("component", "temporal-sdk"))
	stop = func() {}
	if o.Metrics != nil {
		handler, closer := metrics.SDKHandler(o.Metrics)
		conn.MetricsHandler = handler
		stop = func() { _ = closer.Close() }
	}
	if o.Tracing != nil {
		ic, err := o.Tracing.Interceptor()
		if err != nil {
			stop()
			return conn, nil, err
		}
		conn.Interceptors = append(conn.Interceptors[:len(conn.Interceptors):len(conn.Interceptors)], ic)
	}
	return conn, stop, nil
}

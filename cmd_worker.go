package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/wochit-ingest/wochit-ingest/internal/httpserver"
	"github.com/wochit-ingest/wochit-ingest/internal/metrics"
	"github.com/wochit-ingest/wochit-ingest/worker"
)

// runWorker polls Temporal until SIGINT/SIGTERM, then stops polling and lets
// running activities finish within WORKER_STOP_TIMEOUT.
func runWorker(ctx context.Context, args, environ []string, _, stderr io.Writer) error {
	cfg, err := loadWorker(args, environ, stderr)
	if err != nil {
		return err
	}
	log := newLogger(cfg.logConfig, stderr)
	reg := metrics.NewRegistry()
	defer instrument(&cfg.Temporal, log, reg)()
	tr, stopTracing, err := startTracing(ctx, "worker", &cfg.Temporal, log)
	if err != nil {
		return err
	}
	defer stopTracing()
	cfg.Worker.Tracing = tr
	c, err := client.DialContext(ctx, worker.ClientOptions(cfg.Temporal))
	if err != nil {
		return fmt.Errorf("connecting to Temporal at %s (TEMPORAL_ADDRESS): %w", cfg.Temporal.HostPort, err)
	}
	defer c.Close()

	l, err := httpserver.Listen(cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("WORKER_HTTP_ADDR: %w", err)
	}
	srv := httpserver.New(worker.NewHTTPHandler(c, reg))
	httpserver.Serve(srv, l)
	defer httpserver.Shutdown(srv, 5*time.Second)
	log.Info("worker metrics and health", "addr", l.Addr().String())

	cfg.Worker.Logger = log
	cfg.Worker.Metrics = reg
	cfg.Worker.Namespace = cfg.Temporal.Namespace
	return worker.Run(ctx, cfg.Worker, c)
}

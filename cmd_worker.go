package main

import (
	"context"
	"fmt"
	"io"

	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"

	"wochit-ingest/internal/config"
	"wochit-ingest/worker"
)

// runWorker polls Temporal until SIGINT/SIGTERM, then drains.
func runWorker(ctx context.Context, args, environ []string, _, stderr io.Writer) error {
	cfg, err := config.LoadWorker(args, environ, stderr)
	if err != nil {
		return err
	}
	log := newLogger(cfg.Log, stderr)
	cfg.Temporal.Logger = sdklog.NewStructuredLogger(log.With("component", "temporal-sdk"))
	c, err := client.DialContext(ctx, cfg.Temporal)
	if err != nil {
		return fmt.Errorf("connecting to Temporal at %s: %w", cfg.Temporal.HostPort, err)
	}
	defer c.Close()
	cfg.Worker.Logger = log
	return worker.Run(ctx, cfg.Worker, c)
}

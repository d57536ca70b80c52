package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"

	"github.com/wochit-ingest/wochit-ingest/worker"
)

// runSetup prepares a Temporal namespace for wochit-ingest: it registers the
// search attributes the workflow sets (idempotently). `dev` does this by
// itself; run it once against any other cluster before starting workers.
func runSetup(ctx context.Context, args, environ []string, stdout, stderr io.Writer) error {
	cfg, err := loadSetup(args, environ, stderr)
	if err != nil {
		return err
	}
	cfg.Temporal.Logger = sdklog.NewStructuredLogger(newLogger(logQuiet, stderr))
	c, err := client.DialContext(ctx, cfg.Temporal)
	if err != nil {
		return fmt.Errorf("connecting to Temporal at %s (TEMPORAL_ADDRESS): %w", cfg.Temporal.HostPort, err)
	}
	defer c.Close()
	added, err := worker.RegisterSearchAttributes(ctx, c, cfg.Temporal.Namespace)
	if err != nil {
		return err
	}
	if len(added) == 0 {
		fmt.Fprintf(stdout, "Namespace %s already has every search attribute wochit-ingest sets.\n", cfg.Temporal.Namespace)
		return nil
	}
	fmt.Fprintf(stdout, "Registered in namespace %s: %s (Keyword).\n", cfg.Temporal.Namespace, strings.Join(added, ", "))
	return nil
}

package commands

import (
	"context"
	"fmt"
	"io"
	"strings"

	"go.temporal.io/sdk/client"

	"github.com/wochit-ingest/wochit-ingest/internal/config"
	"github.com/wochit-ingest/wochit-ingest/internal/temporalclient"
	"github.com/wochit-ingest/wochit-ingest/worker"
)

// setupConfig configures `wochit-ingest setup`.
type setupConfig struct {
	config.Log
	Temporal client.Options
}

func loadSetup(args, environ []string, output io.Writer) (setupConfig, error) {
	return config.Load("setup", args, environ, output, registerSetup)
}

func registerSetup(l *config.Loader, c *setupConfig) (finish func()) {
	finishLog := l.LogSettings(&c.Log)
	finishTemporal := l.TemporalSettings(&c.Temporal, config.DefaultTemporalAddr, config.DefaultTemporalNamespace)
	return func() { finishLog(); finishTemporal() }
}

// runSetup prepares a Temporal namespace for wochit-ingest: it registers the
// search attributes the workflow sets (idempotently). `dev` does this by
// itself; run it once against any other cluster before starting workers.
func runSetup(ctx context.Context, args, environ []string, stdout, stderr io.Writer) error {
	cfg, err := loadSetup(args, environ, stderr)
	if err != nil {
		return err
	}
	c, closeClient, err := temporalclient.Dial(ctx, cfg.Temporal, temporalclient.Options{Logger: newLogger(logQuiet, stderr)})
	if err != nil {
		return fmt.Errorf("connecting to Temporal at %s (TEMPORAL_ADDRESS): %w", cfg.Temporal.HostPort, err)
	}
	defer closeClient()
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

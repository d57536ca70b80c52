package commands

import (
	"context"
	"io"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/wochit-ingest/wochit-ingest/internal/config"
	"github.com/wochit-ingest/wochit-ingest/operate"
)

// listConfig configures `wochit-ingest list`.
type listConfig struct {
	Temporal client.Options
	Filter   filterFlags
	Limit    int
	JSON     bool
}

func loadList(args, environ []string, output io.Writer) (listConfig, error) {
	return config.Load("list", args, environ, output, registerList)
}

func registerList(l *config.Loader, c *listConfig) (finish func()) {
	finishTemporal := l.TemporalSettings(&c.Temporal, config.DefaultTemporalAddr, config.DefaultTemporalNamespace)
	l.Bool(&c.Filter.allRuns, "all-runs", "", "false", "also list runs a later run of the same video replaced (a failed run a redelivery re-ran)")
	finishFilter := registerFilter(l, &c.Filter, time.Now)
	l.Int(&c.Limit, "limit", "", "1000", "list at most this many runs, newest first (0: all)")
	l.Bool(&c.JSON, "json", "", "false", "print JSON, for scripts")
	return func() { finishTemporal(); finishFilter() }
}

// runList lists runs by filter, from the search attributes (no keys needed).
func runList(ctx context.Context, args, environ []string, stdout, stderr io.Writer) error {
	cfg, err := loadList(args, environ, stderr)
	if err != nil {
		return err
	}
	c, closeClient, err := dialQuietly(ctx, cfg.Temporal)
	if err != nil {
		return err
	}
	defer closeClient()
	runs, err := operate.List(ctx, c, operateOptions(cfg.Temporal), cfg.Filter.Filter, cfg.Limit)
	if err != nil {
		return err
	}
	if cfg.JSON {
		if runs == nil {
			runs = []operate.Run{}
		}
		return operate.WriteJSON(stdout, runs)
	}
	return operate.WriteList(stdout, runs)
}

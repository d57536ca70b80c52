package commands

import (
	"context"
	"io"

	"go.temporal.io/sdk/client"

	"github.com/wochit-ingest/wochit-ingest/internal/config"
	"github.com/wochit-ingest/wochit-ingest/operate"
)

// statusConfig configures `wochit-ingest status`.
type statusConfig struct {
	Temporal client.Options
	JSON     bool
	VideoID  string
}

const statusUsage = `Usage of wochit-ingest status:
  wochit-ingest status [flags] <wochitVideoId>

Shows the latest run of a video, decrypted here with PAYLOAD_KEYS: its stage,
its deadlines, each file (bytes so far, or the stored object with its size and
checksums), each callback attempt (time and answer) and why it failed. It
reads the run's history: no worker needs to run.
`

func registerStatus(l *config.Loader, c *statusConfig) (finish func()) {
	finishTemporal := l.TemporalSettings(&c.Temporal, config.DefaultTemporalAddr, config.DefaultTemporalNamespace)
	finishCodec := payloadCodec(l, &c.Temporal, "")
	l.Bool(&c.JSON, "json", "", "false", "print JSON, for scripts")
	return func() { finishTemporal(); finishCodec() }
}

func runStatus(ctx context.Context, args, environ []string, stdout, stderr io.Writer) error {
	cfg, err := loadWithID("status", statusUsage, args, environ, stderr, func(c *statusConfig) *string { return &c.VideoID }, registerStatus)
	if err != nil {
		return err
	}
	c, closeClient, err := dialQuietly(ctx, cfg.Temporal)
	if err != nil {
		return err
	}
	defer closeClient()
	r, err := operate.Status(ctx, c, operateOptions(cfg.Temporal), cfg.VideoID)
	if err != nil {
		return err
	}
	if cfg.JSON {
		return operate.WriteJSON(stdout, r)
	}
	return operate.WriteStatus(stdout, r)
}

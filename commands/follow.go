package commands

import (
	"context"
	"io"

	"go.temporal.io/sdk/client"

	"github.com/wochit-ingest/wochit-ingest/internal/config"
	"github.com/wochit-ingest/wochit-ingest/operate"
)

// followConfig configures `wochit-ingest follow`.
type followConfig struct {
	Temporal client.Options
	VideoID  string
}

const followUsage = `Usage of wochit-ingest follow:
  wochit-ingest follow [flags] <wochitVideoId>

Shows the progress of a video's latest run until it closes (what send --wait
shows), then the stored objects and the callback, or what failed. Payloads
are decrypted here with PAYLOAD_KEYS; keys that cannot decrypt the run are
an error of their own, never the run's.
`

func registerFollow(l *config.Loader, c *followConfig) (finish func()) {
	finishTemporal := l.TemporalSettings(&c.Temporal, config.DefaultTemporalAddr, config.DefaultTemporalNamespace)
	finishCodec := payloadCodec(l, &c.Temporal, "")
	return func() { finishTemporal(); finishCodec() }
}

func runFollow(ctx context.Context, args, environ []string, stdout, stderr io.Writer) error {
	cfg, err := loadWithID("follow", followUsage, args, environ, stderr, func(c *followConfig) *string { return &c.VideoID }, registerFollow)
	if err != nil {
		return err
	}
	c, closeClient, err := dialQuietly(ctx, cfg.Temporal)
	if err != nil {
		return err
	}
	defer closeClient()
	return operate.FollowVideo(ctx, c, operateOptions(cfg.Temporal), cfg.VideoID, stdout)
}

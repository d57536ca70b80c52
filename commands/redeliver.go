package commands

import (
	"context"
	"errors"
	"fmt"
	"io"

	"go.temporal.io/sdk/client"

	"github.com/wochit-ingest/wochit-ingest/internal/config"
	"github.com/wochit-ingest/wochit-ingest/internal/temporalclient"
	"github.com/wochit-ingest/wochit-ingest/workflows"
)

// redeliverConfig configures `wochit-ingest redeliver`.
type redeliverConfig struct {
	Temporal client.Options
	// Wait follows the run until it closes.
	Wait bool
	// VideoID is the command's one argument: the wochitVideoId.
	VideoID string
}

// loadRedeliver reads the configuration of `wochit-ingest redeliver
// [flags] <wochitVideoId>`; flags may also follow the id.
func loadRedeliver(args, environ []string, output io.Writer) (redeliverConfig, error) {
	var c redeliverConfig
	l := config.New("redeliver", environ, output)
	finish := registerRedeliver(l, &c)
	fs := l.FlagSet()
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage of wochit-ingest redeliver:
  wochit-ingest redeliver [flags] <wochitVideoId>

Sends the video's callback again. While its run is open, the run gets the
"redeliver" signal and makes its next callback attempt now. When the last run
failed (for example CallbackExhausted), a new run starts with the original
notification: it reuses the stored files without downloading them again and
sends the callback with the same webhook-id. When the last run completed, the
callback was delivered and nothing is done.

Flags:
`)
		fs.PrintDefaults()
	}
	if err := l.Parse(args); err != nil {
		return c, err
	}
	if rest := fs.Args(); len(rest) > 0 {
		c.VideoID = rest[0]
		if err := l.Parse(rest[1:]); err != nil {
			return c, err
		}
		if fs.NArg() > 0 {
			l.AddError(fmt.Errorf("one wochitVideoId, please; got also %q", fs.Args()))
		}
	}
	if c.VideoID == "" {
		l.AddError(errors.New("which video? usage: wochit-ingest redeliver [flags] <wochitVideoId>"))
	}
	finish()
	return c, l.Err()
}

func registerRedeliver(l *config.Loader, c *redeliverConfig) (finish func()) {
	finishTemporal := l.TemporalSettings(&c.Temporal, config.DefaultTemporalAddr, config.DefaultTemporalNamespace)
	finishCodec := payloadCodec(l, &c.Temporal, "")
	l.Bool(&c.Wait, "wait", "", "false", "follow the run until it completes and show how the callback went")
	return func() { finishTemporal(); finishCodec() }
}

// runRedeliver sends a video's callback again: it signals the open run, or
// starts a new run after a failed one (which reuses the stored files).
func runRedeliver(ctx context.Context, args, environ []string, stdout, stderr io.Writer) error {
	cfg, err := loadRedeliver(args, environ, stderr)
	if err != nil {
		return err
	}
	c, closeClient, err := temporalclient.Dial(ctx, cfg.Temporal, temporalclient.Options{Logger: newLogger(logQuiet, io.Discard)})
	if err != nil {
		return fmt.Errorf("connecting to Temporal at %s: %w", cfg.Temporal.HostPort, err)
	}
	defer closeClient()

	res, err := workflows.Redeliver(ctx, c, workflows.RedeliverOptions{Namespace: cfg.Temporal.Namespace, DataConverter: cfg.Temporal.DataConverter}, cfg.VideoID)
	if err != nil {
		return err
	}
	switch res.Action {
	case workflows.RedeliverAlreadyDelivered:
		fmt.Fprintf(stdout, "%s completed: its %s callback was delivered (webhook-id %s, %d attempt(s)). Nothing to do.\n",
			res.WorkflowID, res.Callback.EventType, res.Callback.WebhookID, len(res.Callback.Attempts))
		return nil
	case workflows.RedeliverSignalled:
		fmt.Fprintf(stdout, "%s is running (run %s): sent the redeliver signal. Its next callback attempt starts now,\n"+
			"or as soon as both files are stored if it is still copying them.\n", res.WorkflowID, res.RunID)
	case workflows.RedeliverRestarted:
		fmt.Fprintf(stdout, "%s failed in run %s (%s).\n"+
			"Started run %s with the original notification: files already stored are reused, not downloaded\n"+
			"again, and the callback goes out with the same webhook-id.\n", res.WorkflowID, res.FailedRunID, res.Failure, res.RunID)
	}
	if !cfg.Wait {
		fmt.Fprintf(stdout, "Follow it in the Web UI, or: temporal workflow query --type status -w %s\n", res.WorkflowID)
		return nil
	}
	return follow(ctx, c, cfg.Temporal.DataConverter, res.WorkflowID, res.RunID, stdout)
}

package commands

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/wochit-ingest/wochit-ingest/internal/config"
	"github.com/wochit-ingest/wochit-ingest/operate"
	"github.com/wochit-ingest/wochit-ingest/workflows"
)

// redeliverConfig configures `wochit-ingest redeliver`.
type redeliverConfig struct {
	Temporal client.Options
	// Wait follows the run until it closes.
	Wait bool
	// VideoID is the command's one argument: the wochitVideoId. Without it,
	// Filter selects the videos (a batch).
	VideoID string
	Filter  filterFlags
	Yes     bool
	Rate    float64
	JSON    bool
}

// loadRedeliver reads the configuration of `wochit-ingest redeliver
// [flags] <wochitVideoId>` or `wochit-ingest redeliver [filters]`; flags may
// also follow the id.
func loadRedeliver(args, environ []string, output io.Writer) (redeliverConfig, error) {
	var c redeliverConfig
	l := config.New("redeliver", environ, output)
	finish := registerRedeliver(l, &c)
	fs := l.FlagSet()
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage of wochit-ingest redeliver:
  wochit-ingest redeliver [flags] <wochitVideoId>
  wochit-ingest redeliver [flags] --failed|--reason|--callback|--since… (a batch)

Sends the video's callback again. While its run is open, the run gets the
"redeliver" signal and makes its next callback attempt now. When the last run
failed (for example CallbackExhausted), a new run starts with the original
notification: it reuses the stored files without downloading them again and
sends the callback with the same webhook-id. When the last run completed, the
callback was delivered and nothing is done.

With filters instead of an id (the same as list's), it redelivers every video
whose latest run matches, e.g. --callback exhausted --since 2026-12-05T14:00:00Z
after an outage of the backend: it shows the count, asks before it starts
(--yes does not ask), starts at most --rate per second, and reports each.

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
	switch {
	case c.VideoID != "" && c.Filter.given():
		l.AddError(errors.New("give a wochitVideoId or filters (a batch), not both"))
	case c.VideoID == "" && !c.Filter.given():
		l.AddError(errors.New("which video? usage: wochit-ingest redeliver [flags] <wochitVideoId>, or filters such as --callback exhausted for a batch"))
	case c.VideoID == "" && c.Wait:
		l.AddError(errors.New("--wait follows one video; a batch reports each redelivery as it starts (follow one with `wochit-ingest follow <id>`)"))
	}
	if c.Rate <= 0 {
		l.AddError(fmt.Errorf("--rate %v: want redeliveries per second above 0", c.Rate))
	}
	finish()
	return c, l.Err()
}

func registerRedeliver(l *config.Loader, c *redeliverConfig) (finish func()) {
	finishTemporal := l.TemporalSettings(&c.Temporal, config.DefaultTemporalAddr, config.DefaultTemporalNamespace)
	finishCodec := payloadCodec(l, &c.Temporal, "")
	l.Bool(&c.Wait, "wait", "", "false", "follow the run until it completes and show how the callback went")
	finishFilter := registerFilter(l, &c.Filter, time.Now)
	l.Bool(&c.Yes, "yes", "", "false", "a batch: do not ask for confirmation")
	l.Value((*rateValue)(&c.Rate), "rate", "", fmt.Sprint(operate.DefaultBatchRate), "a batch: redeliveries started per second at most")
	l.Bool(&c.JSON, "json", "", "false", "a batch: print each result as JSON at the end")
	return func() { finishTemporal(); finishCodec(); finishFilter() }
}

// runRedeliver sends a video's callback again: it signals the open run, or
// starts a new run after a failed one (which reuses the stored files).
func runRedeliver(ctx context.Context, args, environ []string, stdout, stderr io.Writer) error {
	cfg, err := loadRedeliver(args, environ, stderr)
	if err != nil {
		return err
	}
	c, closeClient, err := dialQuietly(ctx, cfg.Temporal)
	if err != nil {
		return err
	}
	defer closeClient()
	if cfg.VideoID == "" {
		out := stdout
		if cfg.JSON {
			out = stderr // the progress; stdout gets the JSON
		}
		results, err := operate.RedeliverBatch(ctx, c, operateOptions(cfg.Temporal), cfg.Filter.Filter, operate.BatchOptions{
			Yes: cfg.Yes, Rate: cfg.Rate, In: stdinOf(ctx), Out: out,
		})
		if cfg.JSON && results != nil {
			if jerr := operate.WriteJSON(stdout, results); jerr != nil && err == nil {
				err = jerr
			}
		}
		return err
	}

	res, err := workflows.Redeliver(ctx, c, workflows.RedeliverOptions{Namespace: cfg.Temporal.Namespace, DataConverter: cfg.Temporal.DataConverter}, cfg.VideoID)
	if err != nil {
		if operate.IsKeyError(err) {
			return &operate.KeyError{NoKeys: cfg.Temporal.DataConverter == nil, Err: err}
		}
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
		fmt.Fprintf(stdout, "Follow it with: wochit-ingest follow %s (or wochit-ingest status %s)\n", cfg.VideoID, cfg.VideoID)
		return nil
	}
	return operate.Follow(ctx, c, operateOptions(cfg.Temporal), res.WorkflowID, res.RunID, stdout)
}

// rateValue is a positive float flag.
type rateValue float64

func (r *rateValue) Set(v string) error {
	var f float64
	if _, err := fmt.Sscan(v, &f); err != nil {
		return fmt.Errorf("%q is not a number", v)
	}
	*r = rateValue(f)
	return nil
}
func (r *rateValue) String() string { return fmt.Sprint(float64(*r)) }

// stdinOf is where a confirmation is read: the process's stdin, unless the
// test put a reader in ctx.
func stdinOf(ctx context.Context) io.Reader {
	if r, ok := ctx.Value(stdinKey{}).(io.Reader); ok {
		return r
	}
	return os.Stdin
}

type stdinKey struct{}

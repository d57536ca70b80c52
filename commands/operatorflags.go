package commands

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/wochit-ingest/wochit-ingest/contract"
	"github.com/wochit-ingest/wochit-ingest/internal/config"
	"github.com/wochit-ingest/wochit-ingest/internal/temporalclient"
	"github.com/wochit-ingest/wochit-ingest/operate"
	"github.com/wochit-ingest/wochit-ingest/workflows"
)

// This file holds what the operator commands (status, list, follow and
// redeliver) share: the run filter's flags, one-id arguments, and the
// options operate reads runs with.

// filterFlags are list's filters; redeliver takes the same.
type filterFlags struct {
	failed                                bool
	reason, stage, callback, since, until string
	context                               string
	allRuns                               bool
	Filter                                operate.Filter
}

// given says whether any filter was set.
func (f *filterFlags) given() bool {
	return f.failed || f.reason != "" || f.stage != "" || f.callback != "" || f.since != "" || f.until != "" || f.context != ""
}

func registerFilter(l *config.Loader, f *filterFlags, now func() time.Time) (finish func()) {
	l.Bool(&f.failed, "failed", "", "false", "runs that ended without success (failed, cancelled, terminated, timed out)")
	l.Str(&f.reason, "reason", "", "", "runs that failed with this reason (FailureReason): "+strings.Join(contract.Names(contract.Reasons...), ", "))
	l.Str(&f.stage, "stage", "", "", "runs at this stage (IngestStage): transferring, calling-back, completed, failed")
	l.Str(&f.callback, "callback", "", "", "runs whose callback is in this state (CallbackStatus): pending, retrying, delivered, gone, rejected, exhausted")
	l.Str(&f.since, "since", "", "", "runs started at or after this time: RFC 3339 (2026-12-05T14:00:00Z), a date (2026-12-05, UTC) or a duration ago (36h)")
	l.Str(&f.until, "until", "", "", "runs started before this time (same forms as --since)")
	l.Str(&f.context, "context", "", "", "runs of this videoContext")
	return func() {
		f.Filter = operate.Filter{
			Failed: f.failed, Reason: contract.Reason(f.reason), Stage: workflows.Stage(f.stage),
			Callback: workflows.CallbackState(f.callback), Context: f.context, AllRuns: f.allRuns,
		}
		var err error
		if f.Filter.Since, err = parseWhen(f.since, now()); err != nil {
			l.AddError(fmt.Errorf("--since: %w", err))
		}
		if f.Filter.Until, err = parseWhen(f.until, now()); err != nil {
			l.AddError(fmt.Errorf("--until: %w", err))
		}
		if _, err := f.Filter.Query(); err != nil {
			l.AddError(err)
		}
	}
}

// parseWhen reads --since/--until: RFC 3339, a date (midnight UTC), or a
// duration before now.
func parseWhen(v string, now time.Time) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, v); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(v); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("%q is not a time: want RFC 3339 (2026-12-05T14:00:00Z), a date (2026-12-05) or a duration ago (36h)", v)
}

// operateOptions are the options operate reads runs with: the namespace,
// and the keys PAYLOAD_KEYS gave (none: operate says so, *KeyError).
func operateOptions(o client.Options) operate.Options {
	return operate.Options{Namespace: o.Namespace, DataConverter: o.DataConverter}
}

// loadWithID reads the settings of a command that takes one wochitVideoId
// (flags before or after it).
func loadWithID[C any](name, usage string, args, environ []string, output io.Writer, id func(*C) *string, register func(*config.Loader, *C) (finish func())) (C, error) {
	var c C
	l := config.New(name, environ, output)
	finish := register(l, &c)
	fs := l.FlagSet()
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usage+"\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := l.Parse(args); err != nil {
		return c, err
	}
	if rest := fs.Args(); len(rest) > 0 {
		*id(&c) = rest[0]
		if err := l.Parse(rest[1:]); err != nil {
			return c, err
		}
		if fs.NArg() > 0 {
			l.AddError(fmt.Errorf("one wochitVideoId, please; got also %q", fs.Args()))
		}
	}
	if *id(&c) == "" {
		l.AddError(errors.New("which video? usage: wochit-ingest " + name + " [flags] <wochitVideoId>"))
	}
	finish()
	return c, l.Err()
}

// dialQuietly connects an operator command (status, list, follow,
// redeliver) to Temporal, the SDK's own log silenced: the command's output
// is what the operator reads.
func dialQuietly(ctx context.Context, conn client.Options) (client.Client, func(), error) {
	c, closeClient, err := temporalclient.Dial(ctx, conn, temporalclient.Options{Logger: newLogger(logQuiet, io.Discard)})
	if err != nil {
		return nil, nil, fmt.Errorf("connecting to Temporal at %s: %w", conn.HostPort, err)
	}
	return c, closeClient, nil
}

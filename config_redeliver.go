package main

import (
	"errors"
	"fmt"
	"io"

	"go.temporal.io/sdk/client"
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
	l := newLoader("redeliver", environ, output)
	finish := registerRedeliver(l, &c)
	l.fs.Usage = func() {
		fmt.Fprint(l.fs.Output(), `Usage of wochit-ingest redeliver:
  wochit-ingest redeliver [flags] <wochitVideoId>

Sends the video's callback again. While its run is open, the run gets the
"redeliver" signal and makes its next callback attempt now. When the last run
failed (for example CallbackExhausted), a new run starts with the original
notification: it reuses the stored files without downloading them again and
sends the callback with the same webhook-id. When the last run completed, the
callback was delivered and nothing is done.

Flags:
`)
		l.fs.PrintDefaults()
	}
	if err := l.parse(args); err != nil {
		return c, err
	}
	if rest := l.fs.Args(); len(rest) > 0 {
		c.VideoID = rest[0]
		if err := l.parse(rest[1:]); err != nil {
			return c, err
		}
		if l.fs.NArg() > 0 {
			l.errs = append(l.errs, fmt.Errorf("one wochitVideoId, please; got also %q", l.fs.Args()))
		}
	}
	if c.VideoID == "" {
		l.errs = append(l.errs, errors.New("which video? usage: wochit-ingest redeliver [flags] <wochitVideoId>"))
	}
	finish()
	return c, l.err()
}

func registerRedeliver(l *loader, c *redeliverConfig) (finish func()) {
	finishTemporal := l.temporalSettings(&c.Temporal, defaultTemporalAddr, defaultTemporalNamespace)
	finishCodec := l.payloadCodec(&c.Temporal, "")
	l.boolean(&c.Wait, "wait", "", "false", "follow the run until it completes and show how the callback went")
	return func() { finishTemporal(); finishCodec() }
}

//go:build !production

package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/wochit-ingest/wochit-ingest/devstack"
)

// runDev runs the whole system in this process until interrupted.
func runDev(ctx context.Context, args, environ []string, stdout, stderr io.Writer) error {
	cfg, err := loadDev(args, environ, stderr)
	if err != nil {
		return err
	}
	log := newLogger(cfg.logConfig, stderr)
	fmt.Fprintf(stdout, "Starting the dev stack (data in %s; the first start creates the database)…\n", cfg.DataDir)
	stack, err := devstack.Start(ctx, devstack.Options{
		DataDir:          cfg.DataDir,
		TemporalAddr:     cfg.TemporalAddr,
		UIAddr:           cfg.UIAddr,
		GCSAddr:          cfg.GCSAddr,
		IngressAddr:      cfg.IngressAddr,
		DevAddr:          cfg.DevAddr,
		CallbackURL:      cfg.CallbackURL,
		CallbackSecrets:  cfg.CallbackSecrets,
		CallbackSchedule: cfg.CallbackSchedule,
		Transfer:         cfg.Transfer,
		Logger:           log,
	})
	if err != nil {
		return err
	}
	video, thumbnail := stack.DemoURLs()
	fmt.Fprintf(stdout, `
wochit-ingest dev is ready.

  Ingress          %s/webhooks/wochit
  Temporal Web UI  %s
  Temporal gRPC    %s   (namespace %q)
  GCS emulator     %s   (bucket %q, objects under %s/gcs)
  Callbacks to     %s
  Demo media       %s
                   %s

Try it:  go run . send --demo --wait
Stop:    Ctrl-C (unfinished workflows resume on the next start)
`, stack.IngressURL, orNone(stack.UIURL), stack.TemporalAddr, devstack.Namespace, stack.GCSURL, stack.Bucket, cfg.DataDir,
		stack.CallbackURL, video, thumbnail)

	<-ctx.Done()
	fmt.Fprintln(stdout, "\nShutting down (in-flight transfers get a few seconds to finish)…")
	stopCtx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	return stack.Stop(stopCtx)
}

func orNone(s string) string {
	if s == "" {
		return "(off)"
	}
	return s
}

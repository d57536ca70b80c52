//go:build !production

package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/wochit-ingest/wochit-ingest/devstack"
	"github.com/wochit-ingest/wochit-ingest/internal/httpserver"
	"github.com/wochit-ingest/wochit-ingest/internal/webhook"
)

// runDemoServer serves what `dev` serves on its dev address — the demo media
// and a callback receiver that verifies signatures — on its own, for the
// docker-compose stack and for trying a deployment before the real backend
// is ready.
func runDemoServer(ctx context.Context, args, environ []string, _, stderr io.Writer) error {
	env := envMap(environ)
	fs := flag.NewFlagSet("wochit-ingest demo-server", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", envOr(env, "DEMO_ADDR", ":8081"), "address to listen on [$DEMO_ADDR]")
	secret := fs.String("callback-secret", env["CALLBACK_SECRET"], "secret(s) callbacks are signed with [$CALLBACK_SECRET]")
	if err := fs.Parse(args); err != nil {
		return err
	}
	secrets, err := webhook.ParseSecrets(*secret)
	if err != nil {
		return fmt.Errorf("CALLBACK_SECRET: %w", err)
	}
	log := newLogger(logInfo, stderr)
	l, err := httpserver.Listen(*addr)
	if err != nil {
		return fmt.Errorf("DEMO_ADDR: %w", err)
	}
	srv := &http.Server{Handler: devstack.DemoHandler(devstack.DemoMedia(), devstack.NewReceiver(secrets, log), nil), ReadHeaderTimeout: 5 * time.Second}
	done := httpserver.Serve(srv, l)
	log.Info("demo media and callback receiver", "media", "http://"+l.Addr().String()+devstack.DemoVideoPath, "callbacks", "http://"+l.Addr().String()+"/callbacks")
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	return httpserver.Shutdown(srv, 5*time.Second)
}

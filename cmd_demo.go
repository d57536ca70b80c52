//go:build !production

package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/wochit-ingest/wochit-ingest/devstack"
	"github.com/wochit-ingest/wochit-ingest/internal/httpserver"
)

// runDemoServer serves what `dev` serves on its dev address — the demo media
// and a callback receiver that verifies signatures — on its own, for the
// docker-compose stack and for trying a deployment before the real backend
// is ready.
func runDemoServer(ctx context.Context, args, environ []string, _, stderr io.Writer) error {
	cfg, err := loadDemo(args, environ, stderr)
	if err != nil {
		return err
	}
	log := newLogger(logInfo, stderr)
	l, err := httpserver.Listen(cfg.Addr)
	if err != nil {
		return fmt.Errorf("DEMO_ADDR: %w", err)
	}
	srv := &http.Server{Handler: devstack.DemoHandler(devstack.DemoMedia(), devstack.NewReceiver(cfg.CallbackSecrets, log), nil), ReadHeaderTimeout: 5 * time.Second}
	done := httpserver.Serve(srv, l)
	log.Info("demo media and callback receiver", "media", "http://"+l.Addr().String()+devstack.DemoVideoPath, "callbacks", "http://"+l.Addr().String()+"/callbacks")
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	return httpserver.Shutdown(srv, 5*time.Second)
}

package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/wochit-ingest/wochit-ingest/internal/httpserver"
	"github.com/wochit-ingest/wochit-ingest/internal/payloadcodec"
)

// runCodecServer serves the Temporal codec endpoints (POST /encode, /decode)
// with PAYLOAD_KEYS, so the Web UI (its codec endpoint setting) and the
// temporal CLI (--codec-endpoint) show payloads decoded to operators who can
// reach it. Keep it where only operators can: it decrypts for any caller
// that presents one of CODEC_TOKENS (and, from a browser, comes from one of
// the CORS origins).
func runCodecServer(ctx context.Context, args, environ []string, _, stderr io.Writer) error {
	cfg, err := loadCodecServer(args, environ, stderr)
	if err != nil {
		return err
	}
	log := newLogger(cfg.logConfig, stderr)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	mux.Handle("/", payloadcodec.Handler(cfg.Keys, cfg.Handler))
	srv := httpserver.New(mux)
	l, err := httpserver.Listen(cfg.Addr)
	if err != nil {
		return fmt.Errorf("CODEC_ADDR: %w", err)
	}
	done := httpserver.Serve(srv, l)
	log.Info("codec server listening", "addr", l.Addr().String(), "keys", cfg.Keys.String(), "origins", fmt.Sprint(cfg.Handler.AllowedOrigins), "tokens", len(cfg.Handler.Tokens), "unauthenticated", cfg.Handler.Unauthenticated)
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	return httpserver.Shutdown(srv, 5*time.Second)
}

package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"go.temporal.io/sdk/client"

	"github.com/wochit-ingest/wochit-ingest/ingress"
	"github.com/wochit-ingest/wochit-ingest/internal/httpserver"
	"github.com/wochit-ingest/wochit-ingest/internal/metrics"
)

// runIngress serves the webhook endpoint until SIGINT/SIGTERM, then stops
// accepting connections and lets requests in flight finish.
func runIngress(ctx context.Context, args, environ []string, _, stderr io.Writer) error {
	cfg, err := loadIngress(args, environ, stderr)
	if err != nil {
		return err
	}
	log := newLogger(cfg.logConfig, stderr)
	reg := metrics.NewRegistry()
	defer instrument(&cfg.Temporal, log, reg)() // the client's request metrics, on the same /metrics
	tr, stopTracing, err := startTracing(ctx, "ingress", &cfg.Temporal, log)
	if err != nil {
		return err
	}
	defer stopTracing()
	cfg.Server.Tracing = tr
	// Lazy: the ingress starts (and reports not ready) while Temporal is down;
	// each notification then gets a 503 it can retry.
	c, err := client.NewLazyClient(cfg.Temporal)
	if err != nil {
		return fmt.Errorf("temporal client: %w", err)
	}
	defer c.Close()

	cfg.Server.Logger = log
	cfg.Server.Registry = reg
	srv := httpserver.New(ingress.NewServer(cfg.Server, c))
	l, err := httpserver.Listen(cfg.Addr)
	if err != nil {
		return fmt.Errorf("INGRESS_ADDR: %w", err)
	}
	done := httpserver.Serve(srv, l)
	log.Info("ingress listening", "addr", l.Addr().String(), "temporal", cfg.Temporal.HostPort, "namespace", cfg.Temporal.Namespace)
	logSecurity(log, cfg.Server)
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	log.Info("ingress shutting down", "timeout", cfg.ShutdownTimeout)
	return httpserver.Shutdown(srv, cfg.ShutdownTimeout)
}

// logSecurity states at start who may post, so a deployment that is more
// open than intended shows it in its first lines of log. Tokens are counted,
// never shown.
func logSecurity(log *slog.Logger, c ingress.Config) {
	allowlist := "off: every source may post"
	switch {
	case c.AnySource:
	case len(c.AllowedSources) == 0:
		allowlist = fmt.Sprint(ingress.WochitSources)
	default:
		allowlist = fmt.Sprint(c.AllowedSources)
	}
	log.Info("ingress admission", "allowlist", allowlist, "trustedProxies", fmt.Sprint(c.TrustedProxies),
		"tokens", len(c.Tokens), "mediaHosts", fmt.Sprint(c.MediaHosts),
		"rateLimit", float64(c.RateLimit), "rateBurst", c.RateBurst, "maxConcurrentStarts", c.MaxConcurrentStarts)
	if c.AnySource {
		log.Warn("INGRESS_ALLOWLIST is off: anyone who can reach this port can post notifications")
	}
	if len(c.Tokens) == 0 {
		log.Warn("no INGRESS_TOKENS set: notifications are not authenticated beyond the source address (a token is recommended)")
	}
}

//go:build !production

package commands

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/wochit-ingest/wochit-ingest/devstack"
	"github.com/wochit-ingest/wochit-ingest/internal/config"
	"github.com/wochit-ingest/wochit-ingest/internal/httpserver"
	"github.com/wochit-ingest/wochit-ingest/internal/webhook"
)

// demoConfig configures `wochit-ingest demo-server`.
type demoConfig struct {
	Addr            string
	CallbackSecrets []webhook.Secret
}

func loadDemo(args, environ []string, output io.Writer) (demoConfig, error) {
	return config.Load("demo-server", args, environ, output, registerDemo)
}

func registerDemo(l *config.Loader, c *demoConfig) (finish func()) {
	var secret string
	l.Str(&c.Addr, "addr", "DEMO_ADDR", ":8081", "address to listen on")
	l.Str(&secret, "callback-secret", "CALLBACK_SECRET", "", "secret(s) callbacks are signed with")
	return func() {
		secrets, err := webhook.ParseSecrets(secret)
		if err != nil {
			l.Fail("CALLBACK_SECRET", "%v", err)
		}
		c.CallbackSecrets = secrets
	}
}

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
	srv, err := httpserver.Start(cfg.Addr, &http.Server{Handler: devstack.DemoHandler(devstack.DemoMedia(), devstack.NewReceiver(cfg.CallbackSecrets, log), nil), ReadHeaderTimeout: 5 * time.Second})
	if err != nil {
		return fmt.Errorf("DEMO_ADDR: %w", err)
	}
	log.Info("demo media and callback receiver", "media", srv.URL()+devstack.DemoVideoPath, "callbacks", srv.URL()+"/callbacks")
	return srv.Run(ctx, 5*time.Second)
}

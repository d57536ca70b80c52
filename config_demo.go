//go:build !production

package main

import (
	"io"

	"github.com/wochit-ingest/wochit-ingest/internal/webhook"
)

// demoConfig configures `wochit-ingest demo-server`.
type demoConfig struct {
	Addr            string
	CallbackSecrets []webhook.Secret
}

func loadDemo(args, environ []string, output io.Writer) (demoConfig, error) {
	return load("demo-server", args, environ, output, registerDemo)
}

func registerDemo(l *loader, c *demoConfig) (finish func()) {
	var secret string
	l.str(&c.Addr, "addr", "DEMO_ADDR", ":8081", "address to listen on")
	l.str(&secret, "callback-secret", "CALLBACK_SECRET", "", "secret(s) callbacks are signed with")
	return func() {
		secrets, err := webhook.ParseSecrets(secret)
		if err != nil {
			l.fail("CALLBACK_SECRET", "%v", err)
		}
		c.CallbackSecrets = secrets
	}
}

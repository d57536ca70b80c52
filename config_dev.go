//go:build !production

package main

import (
	"io"
	"time"

	"github.com/wochit-ingest/wochit-ingest/activities"
	"github.com/wochit-ingest/wochit-ingest/internal/webhook"
)

// devConfig configures `wochit-ingest dev`.
type devConfig struct {
	logConfig
	DataDir          string
	CallbackURL      string
	CallbackSecrets  []webhook.Secret
	CallbackSchedule []time.Duration
	TemporalAddr     string
	UIAddr           string
	GCSAddr          string
	IngressAddr      string
	DevAddr          string
	Transfer         activities.TransferSettings
}

func loadDev(args, environ []string, output io.Writer) (devConfig, error) {
	return load("dev", args, environ, output, registerDev)
}

func registerDev(l *loader, c *devConfig) (finish func()) {
	finishLog := l.logSettings(&c.logConfig)
	var callbackSecret string
	var chunk int64
	l.str(&c.DataDir, "data-dir", "DEV_DATA_DIR", "./.data", "where dev keeps Temporal's database and the GCS emulator's objects")
	l.str(&c.CallbackURL, "callback-url", "CALLBACK_URL", "", "send callbacks here instead of the built-in receiver")
	l.str(&callbackSecret, "callback-secret", "CALLBACK_SECRET", "", "signing secret (default: generated once into <data-dir>/callback-secret)")
	l.str(&c.TemporalAddr, "temporal-addr", "", "127.0.0.1:7233", "embedded Temporal server gRPC address")
	l.str(&c.UIAddr, "ui-addr", "", "127.0.0.1:8233", "Temporal Web UI address (empty: no UI)")
	l.str(&c.GCSAddr, "gcs-addr", "", "127.0.0.1:4443", "GCS emulator address")
	l.str(&c.IngressAddr, "ingress-addr", "", "127.0.0.1:8080", "ingress address")
	l.str(&c.DevAddr, "dev-addr", "", "127.0.0.1:8081", "demo media and built-in callback receiver address")
	l.bytes(&chunk, "chunk-size", "TRANSFER_CHUNK_SIZE", "16MiB", "GCS upload chunk size")
	l.callbackSchedule(&c.CallbackSchedule)
	return func() {
		finishLog()
		checkDev(l, c, chunk, callbackSecret)
	}
}

func checkDev(l *loader, c *devConfig, chunk int64, callbackSecret string) {
	c.Transfer.ChunkSize = int(chunk)
	if c.CallbackURL != "" {
		if err := checkHTTPURL(c.CallbackURL); err != nil {
			l.fail("CALLBACK_URL", "%v", err)
		}
	}
	if callbackSecret != "" {
		secrets, err := webhook.ParseSecrets(callbackSecret)
		if err != nil {
			l.fail("CALLBACK_SECRET", "%v", err)
		}
		c.CallbackSecrets = secrets
	} else if c.CallbackURL != "" {
		l.fail("CALLBACK_SECRET", "required when CALLBACK_URL is set, so your receiver can verify deliveries")
	}
}

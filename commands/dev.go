//go:build !production

package commands

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/wochit-ingest/wochit-ingest/activities"
	"github.com/wochit-ingest/wochit-ingest/devstack"
	"github.com/wochit-ingest/wochit-ingest/internal/config"
	"github.com/wochit-ingest/wochit-ingest/internal/webhook"
)

// defaultDevDataDir is where `dev` keeps its data unless told otherwise.
const defaultDevDataDir = "./.data"

// devPayloadKeyFile is where `dev` with its default data dir keeps its key.
var devPayloadKeyFile = filepath.Join(defaultDevDataDir, "payload-keys")

// devConfig configures `wochit-ingest dev`.
type devConfig struct {
	config.Log
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
	return config.Load("dev", args, environ, output, registerDev)
}

func registerDev(l *config.Loader, c *devConfig) (finish func()) {
	finishLog := l.LogSettings(&c.Log)
	var callbackSecret string
	var chunk int64
	l.Str(&c.DataDir, "data-dir", "DEV_DATA_DIR", defaultDevDataDir, "where dev keeps Temporal's database and the GCS emulator's objects")
	l.Str(&c.CallbackURL, "callback-url", "CALLBACK_URL", "", "send callbacks here instead of the built-in receiver")
	l.Str(&callbackSecret, "callback-secret", "CALLBACK_SECRET", "", "signing secret (default: generated once into <data-dir>/callback-secret)")
	l.Str(&c.TemporalAddr, "temporal-addr", "", devstack.DefaultTemporalAddr, "embedded Temporal server gRPC address")
	l.Str(&c.UIAddr, "ui-addr", "", devstack.DefaultUIAddr, "Temporal Web UI address (empty: no UI)")
	l.Str(&c.GCSAddr, "gcs-addr", "", devstack.DefaultGCSAddr, "GCS emulator address")
	l.Str(&c.IngressAddr, "ingress-addr", "", devstack.DefaultIngressAddr, "ingress address")
	l.Str(&c.DevAddr, "dev-addr", "", devstack.DefaultDevAddr, "demo media and built-in callback receiver address")
	l.Bytes(&chunk, "chunk-size", "TRANSFER_CHUNK_SIZE", config.FormatBytes(activities.DefaultTransferSettings.ChunkSize), "GCS upload chunk size")
	callbackSchedule(l, &c.CallbackSchedule)
	return func() {
		finishLog()
		checkDev(l, c, chunk, callbackSecret)
	}
}

func checkDev(l *config.Loader, c *devConfig, chunk int64, callbackSecret string) {
	c.Transfer.ChunkSize = int(chunk)
	if c.CallbackURL != "" {
		if err := config.CheckHTTPURL(c.CallbackURL); err != nil {
			l.Fail("CALLBACK_URL", "%v", err)
		}
	}
	if callbackSecret != "" {
		secrets, err := webhook.ParseSecrets(callbackSecret)
		if err != nil {
			l.Fail("CALLBACK_SECRET", "%v", err)
		}
		c.CallbackSecrets = secrets
	} else if c.CallbackURL != "" {
		l.Fail("CALLBACK_SECRET", "required when CALLBACK_URL is set, so your receiver can verify deliveries")
	}
}

// runDev runs the whole system in this process until interrupted.
func runDev(ctx context.Context, args, environ []string, stdout, stderr io.Writer) error {
	cfg, err := loadDev(args, environ, stderr)
	if err != nil {
		return err
	}
	log := newLogger(cfg.Log, stderr)
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

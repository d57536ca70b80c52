package config

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/contrib/envconfig"

	"github.com/wochit-ingest/wochit-ingest/activities"
	"github.com/wochit-ingest/wochit-ingest/ingress"
	"github.com/wochit-ingest/wochit-ingest/internal/webhook"
	"github.com/wochit-ingest/wochit-ingest/worker"
	"github.com/wochit-ingest/wochit-ingest/workflows"
)

// Log is shared by every command.
type Log struct {
	Level  slog.Level
	Format string // text or json
}

// Ingress configures `wochit-ingest ingress`.
type Ingress struct {
	Log
	Temporal        client.Options
	Addr            string
	ShutdownTimeout time.Duration
	Server          ingress.Config
}

// Worker configures `wochit-ingest worker`.
type Worker struct {
	Log
	Temporal client.Options
	Worker   worker.Config
	// HTTPAddr serves /metrics, /healthz and /readyz.
	HTTPAddr string
}

// Redeliver configures `wochit-ingest redeliver`.
type Redeliver struct {
	Temporal client.Options
	// Wait follows the run until it closes.
	Wait bool
	// VideoID is the command's one argument: the wochitVideoId.
	VideoID string
}

// Dev configures `wochit-ingest dev`.
type Dev struct {
	Log
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

func (l *loader) logSettings(dst *Log) (finish func()) {
	var level string
	l.str(&level, "log-level", "LOG_LEVEL", "info", "log level: debug, info, warn or error")
	l.str(&dst.Format, "log-format", "LOG_FORMAT", "text", "log format: text or json")
	return func() {
		if err := dst.Level.UnmarshalText([]byte(level)); err != nil {
			l.fail("LOG_LEVEL", "want debug, info, warn or error")
		}
		if dst.Format != "text" && dst.Format != "json" {
			l.fail("LOG_FORMAT", "want text or json")
		}
	}
}

// temporalSettings reads the Temporal connection the way every Temporal tool
// does (go.temporal.io/sdk/contrib/envconfig): TEMPORAL_ADDRESS,
// TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TEMPORAL_TLS_*, TEMPORAL_PROFILE and
// the profile file. The two flags override the first two variables.
func (l *loader) temporalSettings(dst *client.Options) (finish func()) {
	var addr, namespace string
	l.str(&addr, "temporal-address", "TEMPORAL_ADDRESS", "localhost:7233", "Temporal frontend host:port")
	l.str(&namespace, "temporal-namespace", "TEMPORAL_NAMESPACE", "default", "Temporal namespace")
	l.settings = append(l.settings,
		Setting{Env: "TEMPORAL_API_KEY", Usage: "API key (Temporal Cloud)"},
		Setting{Env: "TEMPORAL_TLS_CLIENT_CERT_PATH", Usage: "mTLS client certificate (also TEMPORAL_TLS_CLIENT_KEY_PATH, TEMPORAL_TLS_SERVER_CA_CERT_PATH, TEMPORAL_TLS_SERVER_NAME, TEMPORAL_TLS)"},
		Setting{Env: "TEMPORAL_PROFILE", Usage: "profile in the Temporal config file (TEMPORAL_CONFIG_FILE)"},
	)
	return func() {
		opts, err := envconfig.LoadClientOptions(envconfig.LoadClientOptionsRequest{EnvLookup: envLookup(l.env)})
		if err != nil {
			l.errs = append(l.errs, fmt.Errorf("Temporal client configuration: %w", err))
			return
		}
		opts.HostPort, opts.Namespace = addr, namespace
		*dst = opts
	}
}

// LoadIngress reads the ingress configuration.
func LoadIngress(args, environ []string, output io.Writer) (Ingress, error) {
	var c Ingress
	l := newLoader("ingress", environ, output)
	finish := registerIngress(l, &c)
	if err := l.parse(args); err != nil {
		return c, err
	}
	finish()
	return c, l.err()
}

func registerIngress(l *loader, c *Ingress) (finish func()) {
	finishLog := l.logSettings(&c.Log)
	finishTemporal := l.temporalSettings(&c.Temporal)
	l.str(&c.Addr, "addr", "INGRESS_ADDR", ":8080", "address the ingress listens on")
	l.duration(&c.ShutdownTimeout, "shutdown-timeout", "INGRESS_SHUTDOWN_TIMEOUT", "20s", "how long in-flight requests may finish after SIGTERM")
	l.boolean(&c.Server.AllowHTTPURLs, "allow-http-urls", "INGRESS_ALLOW_HTTP_URLS", "false", "accept plain-http media URLs (https only otherwise)")
	l.duration(&c.Server.StartTimeout, "start-timeout", "INGRESS_START_TIMEOUT", "5s", "how long to wait for Temporal to accept a workflow before answering 503")
	l.callbackSchedule(&c.Server.CallbackSchedule)
	finishSecurity := l.ingressSecurity(&c.Server)
	return func() {
		finishLog()
		finishTemporal()
		finishSecurity()
		c.Server.Namespace = c.Temporal.Namespace
	}
}

// LoadWorker reads the worker configuration.
func LoadWorker(args, environ []string, output io.Writer) (Worker, error) {
	var c Worker
	l := newLoader("worker", environ, output)
	finish := registerWorker(l, &c)
	if err := l.parse(args); err != nil {
		return c, err
	}
	finish()
	return c, l.err()
}

func registerWorker(l *loader, c *Worker) (finish func()) {
	w := &c.Worker
	finishLog := l.logSettings(&c.Log)
	finishTemporal := l.temporalSettings(&c.Temporal)
	finishWorker := l.workerSettings(w)
	l.str(&c.HTTPAddr, "http-addr", "WORKER_HTTP_ADDR", ":9090", "address of /metrics, /healthz and /readyz")
	l.str(&w.Bucket, "gcs-bucket", "GCS_BUCKET", "", "bucket that receives the media (required)")
	var callbackSecret string
	l.str(&w.CallbackURL, "callback-url", "CALLBACK_URL", "", "customer backend URL that receives video.stored / video.failed (required)")
	l.str(&callbackSecret, "callback-secret", "CALLBACK_SECRET", "", "whsec_<base64> signing secret(s), space-separated during rotation (required)")
	return func() {
		finishLog()
		finishTemporal()
		finishWorker()
		checkWorker(l, w, callbackSecret)
	}
}

func checkWorker(l *loader, w *worker.Config, callbackSecret string) {
	if w.Bucket == "" {
		l.fail("GCS_BUCKET", "required")
	}
	if w.CallbackURL == "" {
		l.fail("CALLBACK_URL", "required")
	} else if err := checkHTTPURL(w.CallbackURL); err != nil {
		l.fail("CALLBACK_URL", "%v", err)
	}
	if callbackSecret == "" {
		l.fail("CALLBACK_SECRET", "required; generate one with: echo whsec_$(openssl rand -base64 32)")
	} else if secrets, err := webhook.ParseSecrets(callbackSecret); err != nil {
		l.fail("CALLBACK_SECRET", "%v", err)
	} else {
		w.CallbackSecrets = secrets
	}
}

// workerSettings are shared by `worker` and the worker inside `dev`.
func (l *loader) workerSettings(w *worker.Config) (finish func()) {
	var chunk int64
	var ports []string
	l.str(&w.Prefix, "gcs-prefix", "GCS_PREFIX", "videos/", "object name prefix")
	l.str(&w.StorageEndpoint, "storage-emulator-host", "STORAGE_EMULATOR_HOST", "", "GCS emulator host:port or URL (empty: real GCS with Application Default Credentials)")
	l.list(&w.TaskQueues, "task-queues", "WORKER_TASK_QUEUES", strings.Join(worker.AllTaskQueues, ","), "task queues to poll (comma-separated)")
	l.integer(&w.VideoSlots, "video-slots", "VIDEO_TRANSFER_SLOTS", "4", "video transfers one worker runs at once (memory ≈ slots × chunk size)")
	l.integer(&w.ActivitySlots, "activity-slots", "WORKER_ACTIVITY_SLOTS", "100", "activities (thumbnails, callbacks) one worker runs at once on the wochit-ingest queue")
	l.bytes(&chunk, "chunk-size", "TRANSFER_CHUNK_SIZE", "16MiB", "GCS upload chunk size of a single-stream transfer (its memory)")
	l.bytes(&w.Transfer.PartSize, "part-size", "TRANSFER_PART_SIZE", "16MiB", "part size when the origin supports ranges (a crash re-downloads at most part size × part concurrency)")
	l.integer(&w.Transfer.PartConcurrency, "part-concurrency", "TRANSFER_PART_CONCURRENCY", "4", "parts of one file copied at once")
	l.bytes(&w.Transfer.MaxVideoBytes, "max-video-size", "TRANSFER_MAX_VIDEO_SIZE", "10GiB", "larger videos fail with TooLarge")
	l.bytes(&w.Transfer.MaxThumbnailBytes, "max-thumbnail-size", "TRANSFER_MAX_THUMBNAIL_SIZE", "50MiB", "larger thumbnails fail with TooLarge")
	l.duration(&w.Transfer.IdleTimeout, "idle-timeout", "TRANSFER_IDLE_TIMEOUT", "60s", "fail a transfer attempt when the origin sends nothing for this long")
	l.duration(&w.StopTimeout, "stop-timeout", "WORKER_STOP_TIMEOUT", "30s", "how long in-flight activities may finish after SIGTERM")
	l.boolean(&w.Origins.AllowPrivate, "origin-allow-private", "ORIGIN_ALLOW_PRIVATE", "false", "let media URLs reach loopback/private addresses (never in production)")
	l.boolean(&w.Callbacks.AllowPrivate, "callback-allow-private", "CALLBACK_ALLOW_PRIVATE", "false", "let the callback reach a backend on a private network")
	l.list(&ports, "allowed-ports", "OUTBOUND_ALLOWED_PORTS", "", "ports outbound requests may use besides 80 and 443")
	return func() {
		if w.StorageEndpoint != "" && !strings.Contains(w.StorageEndpoint, "://") {
			w.StorageEndpoint = "http://" + w.StorageEndpoint
		}
		w.StorageEndpoint = strings.TrimSuffix(w.StorageEndpoint, "/")
		for _, q := range w.TaskQueues {
			if !worker.ValidTaskQueue(q) {
				l.fail("WORKER_TASK_QUEUES", "unknown task queue %q (known: %s)", q, strings.Join(worker.AllTaskQueues, ", "))
			}
		}
		if w.VideoSlots < 1 {
			l.fail("VIDEO_TRANSFER_SLOTS", "must be at least 1")
		}
		if w.ActivitySlots < 1 {
			l.fail("WORKER_ACTIVITY_SLOTS", "must be at least 1")
		}
		if chunk < 256<<10 || chunk > 1<<30 {
			l.fail("TRANSFER_CHUNK_SIZE", "must be between 256KiB and 1GiB")
		}
		if w.Transfer.PartSize < 256<<10 {
			l.fail("TRANSFER_PART_SIZE", "must be at least 256KiB")
		}
		if w.Transfer.PartConcurrency < 1 {
			l.fail("TRANSFER_PART_CONCURRENCY", "must be at least 1")
		}
		if w.Transfer.MaxVideoBytes < 1 {
			l.fail("TRANSFER_MAX_VIDEO_SIZE", "must be positive")
		}
		if w.Transfer.MaxThumbnailBytes < 1 {
			l.fail("TRANSFER_MAX_THUMBNAIL_SIZE", "must be positive")
		}
		w.Transfer.ChunkSize = int(chunk)
		w.Origins.Ports = l.ports("OUTBOUND_ALLOWED_PORTS", ports)
		w.Callbacks.Ports = w.Origins.Ports
	}
}

// LoadDev reads the configuration of `wochit-ingest dev`.
func LoadDev(args, environ []string, output io.Writer) (Dev, error) {
	var c Dev
	l := newLoader("dev", environ, output)
	finish := registerDev(l, &c)
	if err := l.parse(args); err != nil {
		return c, err
	}
	finish()
	return c, l.err()
}

func registerDev(l *loader, c *Dev) (finish func()) {
	finishLog := l.logSettings(&c.Log)
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

// callbackSchedule is read by whoever starts workflows (the ingress, and
// dev's ingress): each run keeps the schedule it was started with.
func (l *loader) callbackSchedule(dst *[]time.Duration) {
	l.value((*scheduleValue)(dst), "callback-schedule", "CALLBACK_SCHEDULE", workflows.FormatCallbackSchedule(workflows.DefaultCallbackSchedule),
		"wait before each callback attempt, comma-separated (each stretched by up to 10% of jitter)")
}

// LoadRedeliver reads the configuration of `wochit-ingest redeliver
// [flags] <wochitVideoId>`; flags may also follow the id.
func LoadRedeliver(args, environ []string, output io.Writer) (Redeliver, error) {
	var c Redeliver
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

func registerRedeliver(l *loader, c *Redeliver) (finish func()) {
	finishTemporal := l.temporalSettings(&c.Temporal)
	l.boolean(&c.Wait, "wait", "", "false", "follow the run until it completes and show how the callback went")
	return finishTemporal
}

func checkDev(l *loader, c *Dev, chunk int64, callbackSecret string) {
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

// envLookup adapts the environment map to envconfig.
type envLookup map[string]string

func (e envLookup) LookupEnv(key string) (string, bool) {
	v, ok := e[key]
	return v, ok
}

func (e envLookup) Environ() []string {
	out := make([]string, 0, len(e))
	for k, v := range e {
		out = append(out, k+"="+v)
	}
	return out
}

// Setup configures `wochit-ingest setup`.
type Setup struct {
	Log
	Temporal client.Options
}

// LoadSetup reads the configuration of `wochit-ingest setup`.
func LoadSetup(args, environ []string, output io.Writer) (Setup, error) {
	var c Setup
	l := newLoader("setup", environ, output)
	finish := registerSetup(l, &c)
	if err := l.parse(args); err != nil {
		return c, err
	}
	finish()
	return c, l.err()
}

func registerSetup(l *loader, c *Setup) (finish func()) {
	finishLog := l.logSettings(&c.Log)
	finishTemporal := l.temporalSettings(&c.Temporal)
	return func() { finishLog(); finishTemporal() }
}

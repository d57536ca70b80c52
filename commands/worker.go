package commands

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/wochit-ingest/wochit-ingest/activities"
	"github.com/wochit-ingest/wochit-ingest/internal/config"
	"github.com/wochit-ingest/wochit-ingest/internal/httpserver"
	"github.com/wochit-ingest/wochit-ingest/internal/metrics"
	"github.com/wochit-ingest/wochit-ingest/internal/safehttp"
	"github.com/wochit-ingest/wochit-ingest/internal/temporalclient"
	"github.com/wochit-ingest/wochit-ingest/internal/webhook"
	"github.com/wochit-ingest/wochit-ingest/worker"
)

// workerConfig configures `wochit-ingest worker`.
type workerConfig struct {
	config.Log
	Temporal client.Options
	Worker   worker.Config
	// HTTPAddr serves /metrics, /healthz and /readyz.
	HTTPAddr string
}

func loadWorker(args, environ []string, output io.Writer) (workerConfig, error) {
	return config.Load("worker", args, environ, output, registerWorker)
}

func registerWorker(l *config.Loader, c *workerConfig) (finish func()) {
	w := &c.Worker
	finishLog := l.LogSettings(&c.Log)
	finishTemporal := l.TemporalSettings(&c.Temporal, config.DefaultTemporalAddr, config.DefaultTemporalNamespace)
	finishCodec := payloadCodec(l, &c.Temporal, "")
	l.TracingSettings()
	finishWorker := workerSettings(l, w)
	l.Str(&c.HTTPAddr, "http-addr", "WORKER_HTTP_ADDR", ":9090", "address of /metrics, /healthz and /readyz")
	l.Str(&w.Bucket, "gcs-bucket", "GCS_BUCKET", "", "bucket that receives the media (required)")
	var callbackSecret string
	var mediaHosts []string
	// One list for the ingress (which refuses other hosts at the door) and
	// the workers (which refuse them on every connection and redirect).
	l.List(&mediaHosts, "media-hosts", "INGRESS_MEDIA_HOSTS", "", "hosts media may be fetched from, redirects included: 'cdn.example.com' exactly, '.example.com' for subdomains (empty: any public host); set it like the ingress's")
	l.Str(&w.CallbackURL, "callback-url", "CALLBACK_URL", "", "customer backend URL that receives video.stored / video.failed (required)")
	l.Str(&callbackSecret, "callback-secret", "CALLBACK_SECRET", "", "whsec_<base64> signing secret(s), space-separated during rotation (required)")
	return func() {
		finishLog()
		finishTemporal()
		finishCodec()
		finishWorker()
		w.Origins.Hosts = checkMediaHosts(l, "INGRESS_MEDIA_HOSTS", mediaHosts)
		checkWorker(l, w, callbackSecret)
	}
}

func checkWorker(l *config.Loader, w *worker.Config, callbackSecret string) {
	if w.Bucket == "" {
		l.Fail("GCS_BUCKET", "required")
	}
	if w.CallbackURL == "" {
		l.Fail("CALLBACK_URL", "required")
	} else if err := config.CheckHTTPURL(w.CallbackURL); err != nil {
		l.Fail("CALLBACK_URL", "%v", err)
	}
	if callbackSecret == "" {
		l.Fail("CALLBACK_SECRET", "required; generate one with: echo whsec_$(openssl rand -base64 32)")
	} else if secrets, err := webhook.ParseSecrets(callbackSecret); err != nil {
		l.Fail("CALLBACK_SECRET", "%v", err)
	} else {
		w.CallbackSecrets = secrets
	}
}

// workerSettings are shared by `worker` and the worker inside `dev`.
func workerSettings(l *config.Loader, w *worker.Config) (finish func()) {
	d := activities.DefaultTransferSettings
	var chunk int64
	var ports []string
	l.Str(&w.Prefix, "gcs-prefix", "GCS_PREFIX", "videos/", "object name prefix")
	l.Str(&w.StorageEndpoint, "storage-emulator-host", "STORAGE_EMULATOR_HOST", "", "GCS emulator host:port or URL (empty: real GCS with Application Default Credentials)")
	l.List(&w.TaskQueues, "task-queues", "WORKER_TASK_QUEUES", strings.Join(worker.AllTaskQueues, ","), "task queues to poll (comma-separated)")
	l.Int(&w.VideoSlots, "video-slots", "VIDEO_TRANSFER_SLOTS", strconv.Itoa(worker.DefaultVideoSlots), "video transfers one worker runs at once (memory ≈ slots × chunk size)")
	l.Int(&w.ActivitySlots, "activity-slots", "WORKER_ACTIVITY_SLOTS", strconv.Itoa(worker.DefaultActivitySlots), "activities (thumbnails, callbacks) one worker runs at once on the wochit-ingest queue")
	l.Bytes(&chunk, "chunk-size", "TRANSFER_CHUNK_SIZE", config.FormatBytes(d.ChunkSize), "GCS upload chunk size of a single-stream transfer (its memory)")
	l.Bytes(&w.Transfer.PartSize, "part-size", "TRANSFER_PART_SIZE", config.FormatBytes(d.PartSize), "part size when the origin supports ranges, raised for files that would need more than 4096 parts (a crash re-downloads at most part size × part concurrency)")
	l.Int(&w.Transfer.PartConcurrency, "part-concurrency", "TRANSFER_PART_CONCURRENCY", strconv.Itoa(d.PartConcurrency), "parts of one file copied at once")
	l.Bytes(&w.Transfer.MaxVideoBytes, "max-video-size", "TRANSFER_MAX_VIDEO_SIZE", config.FormatBytes(d.MaxVideoBytes), "larger videos fail with TooLarge")
	l.Bytes(&w.Transfer.MaxThumbnailBytes, "max-thumbnail-size", "TRANSFER_MAX_THUMBNAIL_SIZE", config.FormatBytes(d.MaxThumbnailBytes), "larger thumbnails fail with TooLarge")
	l.Duration(&w.Transfer.IdleTimeout, "idle-timeout", "TRANSFER_IDLE_TIMEOUT", config.FormatDuration(d.IdleTimeout), "fail a transfer attempt when the origin sends nothing for this long")
	l.Bytes(&w.Transfer.MinProgress, "min-progress", "TRANSFER_MIN_PROGRESS", config.FormatBytes(d.MinProgress), "cut a transfer attempt whose origin sends less than this in any TRANSFER_PROGRESS_WINDOW")
	l.Duration(&w.Transfer.ProgressWindow, "progress-window", "TRANSFER_PROGRESS_WINDOW", config.FormatDuration(d.ProgressWindow), "the window of TRANSFER_MIN_PROGRESS")
	l.Int(&w.HostSlotPercent, "origin-host-slot-percent", "ORIGIN_HOST_SLOT_PERCENT", strconv.Itoa(worker.DefaultHostSlotPercent), "percent of a queue's transfer slots that transfers from one origin host may hold (at least one)")
	l.Bytes(&w.MaxResponseHeaderBytes, "max-header-size", "OUTBOUND_MAX_HEADER_SIZE", config.FormatBytes(safehttp.DefaultMaxResponseHeaderBytes), "refuse origin and callback responses with larger headers")
	l.Duration(&w.StopTimeout, "stop-timeout", "WORKER_STOP_TIMEOUT", config.FormatDuration(worker.DefaultStopTimeout), "how long in-flight activities may finish after SIGTERM")
	l.Bool(&w.Origins.AllowPrivate, "origin-allow-private", "ORIGIN_ALLOW_PRIVATE", "false", "let media URLs reach loopback/private addresses (never in production)")
	l.Bool(&w.Callbacks.AllowPrivate, "callback-allow-private", "CALLBACK_ALLOW_PRIVATE", "false", "let the callback reach a backend on a private network")
	l.List(&ports, "allowed-ports", "OUTBOUND_ALLOWED_PORTS", "", "ports outbound requests may use besides 80 and 443")
	return func() {
		if w.StorageEndpoint != "" && !strings.Contains(w.StorageEndpoint, "://") {
			w.StorageEndpoint = "http://" + w.StorageEndpoint
		}
		w.StorageEndpoint = strings.TrimSuffix(w.StorageEndpoint, "/")
		for _, q := range w.TaskQueues {
			if !worker.ValidTaskQueue(q) {
				l.Fail("WORKER_TASK_QUEUES", "unknown task queue %q (known: %s)", q, strings.Join(worker.AllTaskQueues, ", "))
			}
		}
		if w.VideoSlots < 1 {
			l.Fail("VIDEO_TRANSFER_SLOTS", "must be at least 1")
		}
		if w.ActivitySlots < 1 {
			l.Fail("WORKER_ACTIVITY_SLOTS", "must be at least 1")
		}
		if chunk < 256<<10 || chunk > 1<<30 {
			l.Fail("TRANSFER_CHUNK_SIZE", "must be between 256KiB and 1GiB")
		}
		if w.Transfer.PartSize < 256<<10 {
			l.Fail("TRANSFER_PART_SIZE", "must be at least 256KiB")
		}
		if w.Transfer.PartConcurrency < 1 {
			l.Fail("TRANSFER_PART_CONCURRENCY", "must be at least 1")
		}
		if w.Transfer.MaxVideoBytes < 1 {
			l.Fail("TRANSFER_MAX_VIDEO_SIZE", "must be positive")
		}
		if w.Transfer.MaxThumbnailBytes < 1 {
			l.Fail("TRANSFER_MAX_THUMBNAIL_SIZE", "must be positive")
		}
		if w.Transfer.MinProgress < 1 {
			l.Fail("TRANSFER_MIN_PROGRESS", "must be positive")
		}
		if w.Transfer.ProgressWindow < time.Second {
			l.Fail("TRANSFER_PROGRESS_WINDOW", "must be at least 1s")
		}
		if w.HostSlotPercent < 1 || w.HostSlotPercent > 100 {
			l.Fail("ORIGIN_HOST_SLOT_PERCENT", "must be between 1 and 100")
		}
		if w.MaxResponseHeaderBytes < 4<<10 || w.MaxResponseHeaderBytes > 10<<20 {
			l.Fail("OUTBOUND_MAX_HEADER_SIZE", "must be between 4KiB and 10MiB")
		}
		w.Transfer.ChunkSize = int(chunk)
		w.Origins.Ports = l.Ports("OUTBOUND_ALLOWED_PORTS", ports)
		w.Callbacks.Ports = w.Origins.Ports
	}
}

// runWorker polls Temporal until SIGINT/SIGTERM, then stops polling and lets
// running activities finish within WORKER_STOP_TIMEOUT.
func runWorker(ctx context.Context, args, environ []string, _, stderr io.Writer) error {
	cfg, err := loadWorker(args, environ, stderr)
	if err != nil {
		return err
	}
	log := newLogger(cfg.Log, stderr)
	reg := metrics.NewRegistry()
	tr, stopTracing, err := startTracing(ctx, "worker", log)
	if err != nil {
		return err
	}
	defer stopTracing()
	cfg.Worker.Tracing = tr
	c, closeClient, err := temporalclient.Dial(ctx, worker.ClientOptions(cfg.Temporal), temporalclient.Options{Logger: log, Metrics: reg, Tracing: tr})
	if err != nil {
		return fmt.Errorf("connecting to Temporal at %s (TEMPORAL_ADDRESS): %w", cfg.Temporal.HostPort, err)
	}
	defer closeClient()

	srv, err := httpserver.Start(cfg.HTTPAddr, httpserver.New(worker.NewHTTPHandler(c, reg)))
	if err != nil {
		return fmt.Errorf("WORKER_HTTP_ADDR: %w", err)
	}
	defer srv.Stop(5 * time.Second)
	log.Info("worker metrics and health", "addr", srv.Addr())

	cfg.Worker.Logger = log
	cfg.Worker.Metrics = reg
	cfg.Worker.Namespace = cfg.Temporal.Namespace
	return worker.Run(ctx, cfg.Worker, c)
}

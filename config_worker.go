package main

import (
	"io"
	"strings"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/wochit-ingest/wochit-ingest/internal/webhook"
	"github.com/wochit-ingest/wochit-ingest/worker"
)

// The Temporal connection's built-in defaults (a profile, the variables or
// the flags change them).
const (
	defaultTemporalAddr      = "localhost:7233"
	defaultTemporalNamespace = "default"
)

// workerConfig configures `wochit-ingest worker`.
type workerConfig struct {
	logConfig
	Temporal client.Options
	Worker   worker.Config
	// HTTPAddr serves /metrics, /healthz and /readyz.
	HTTPAddr string
}

func loadWorker(args, environ []string, output io.Writer) (workerConfig, error) {
	return load("worker", args, environ, output, registerWorker)
}

func registerWorker(l *loader, c *workerConfig) (finish func()) {
	w := &c.Worker
	finishLog := l.logSettings(&c.logConfig)
	finishTemporal := l.temporalSettings(&c.Temporal, defaultTemporalAddr, defaultTemporalNamespace)
	finishCodec := l.payloadCodec(&c.Temporal, "")
	l.tracingSettings()
	finishWorker := l.workerSettings(w)
	l.str(&c.HTTPAddr, "http-addr", "WORKER_HTTP_ADDR", ":9090", "address of /metrics, /healthz and /readyz")
	l.str(&w.Bucket, "gcs-bucket", "GCS_BUCKET", "", "bucket that receives the media (required)")
	var callbackSecret string
	var mediaHosts []string
	// One list for the ingress (which refuses other hosts at the door) and
	// the workers (which refuse them on every connection and redirect).
	l.list(&mediaHosts, "media-hosts", "INGRESS_MEDIA_HOSTS", "", "hosts media may be fetched from, redirects included: 'cdn.example.com' exactly, '.example.com' for subdomains (empty: any public host); set it like the ingress's")
	l.str(&w.CallbackURL, "callback-url", "CALLBACK_URL", "", "customer backend URL that receives video.stored / video.failed (required)")
	l.str(&callbackSecret, "callback-secret", "CALLBACK_SECRET", "", "whsec_<base64> signing secret(s), space-separated during rotation (required)")
	return func() {
		finishLog()
		finishTemporal()
		finishCodec()
		finishWorker()
		w.Origins.Hosts = l.mediaHosts("INGRESS_MEDIA_HOSTS", mediaHosts)
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
	l.bytes(&w.Transfer.PartSize, "part-size", "TRANSFER_PART_SIZE", "16MiB", "part size when the origin supports ranges, raised for files that would need more than 4096 parts (a crash re-downloads at most part size × part concurrency)")
	l.integer(&w.Transfer.PartConcurrency, "part-concurrency", "TRANSFER_PART_CONCURRENCY", "4", "parts of one file copied at once")
	l.bytes(&w.Transfer.MaxVideoBytes, "max-video-size", "TRANSFER_MAX_VIDEO_SIZE", "10GiB", "larger videos fail with TooLarge")
	l.bytes(&w.Transfer.MaxThumbnailBytes, "max-thumbnail-size", "TRANSFER_MAX_THUMBNAIL_SIZE", "50MiB", "larger thumbnails fail with TooLarge")
	l.duration(&w.Transfer.IdleTimeout, "idle-timeout", "TRANSFER_IDLE_TIMEOUT", "60s", "fail a transfer attempt when the origin sends nothing for this long")
	l.bytes(&w.Transfer.MinProgress, "min-progress", "TRANSFER_MIN_PROGRESS", "64KiB", "cut a transfer attempt whose origin sends less than this in any TRANSFER_PROGRESS_WINDOW")
	l.duration(&w.Transfer.ProgressWindow, "progress-window", "TRANSFER_PROGRESS_WINDOW", "2m", "the window of TRANSFER_MIN_PROGRESS")
	l.integer(&w.HostSlotPercent, "origin-host-slot-percent", "ORIGIN_HOST_SLOT_PERCENT", "75", "percent of a queue's transfer slots that transfers from one origin host may hold (at least one)")
	l.bytes(&w.MaxResponseHeaderBytes, "max-header-size", "OUTBOUND_MAX_HEADER_SIZE", "64KiB", "refuse origin and callback responses with larger headers")
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
		if w.Transfer.MinProgress < 1 {
			l.fail("TRANSFER_MIN_PROGRESS", "must be positive")
		}
		if w.Transfer.ProgressWindow < time.Second {
			l.fail("TRANSFER_PROGRESS_WINDOW", "must be at least 1s")
		}
		if w.HostSlotPercent < 1 || w.HostSlotPercent > 100 {
			l.fail("ORIGIN_HOST_SLOT_PERCENT", "must be between 1 and 100")
		}
		if w.MaxResponseHeaderBytes < 4<<10 || w.MaxResponseHeaderBytes > 10<<20 {
			l.fail("OUTBOUND_MAX_HEADER_SIZE", "must be between 4KiB and 10MiB")
		}
		w.Transfer.ChunkSize = int(chunk)
		w.Origins.Ports = l.ports("OUTBOUND_ALLOWED_PORTS", ports)
		w.Callbacks.Ports = w.Origins.Ports
	}
}

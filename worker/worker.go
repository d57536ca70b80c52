// Package worker runs the Temporal workers that execute IngestVideo
// workflows and their activities. Any number of worker processes can poll the
// same task queues; run more of them to scale out.
package worker

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"cloud.google.com/go/storage"
	"github.com/prometheus/client_golang/prometheus"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
	"google.golang.org/api/option"

	"github.com/wochit-ingest/wochit-ingest/activities"
	"github.com/wochit-ingest/wochit-ingest/inbox"
	"github.com/wochit-ingest/wochit-ingest/internal/safehttp"
	"github.com/wochit-ingest/wochit-ingest/internal/tracing"
	"github.com/wochit-ingest/wochit-ingest/internal/webhook"
	"github.com/wochit-ingest/wochit-ingest/workflows"
)

// Config is everything a worker process needs besides the Temporal client.
type Config struct {
	// Namespace the client is connected to; the worker checks at start that
	// it has the search attributes the workflow sets.
	Namespace string
	// TaskQueues to poll; empty means both workflows.TaskQueue and
	// workflows.VideoTaskQueue.
	TaskQueues []string
	// VideoSlots is how many video transfers one process runs at once. Each
	// holds one upload chunk in memory: budget VideoSlots × ChunkSize.
	VideoSlots int
	// ActivitySlots is how many activities (thumbnail transfers, callbacks)
	// one process runs at once on workflows.TaskQueue; the SDK's default of
	// 1000 lets a burst of slow thumbnails hold far more memory and
	// connections than a worker should.
	ActivitySlots int
	// StopTimeout is how long in-flight activities may finish after a stop
	// signal before they are cancelled (and retried elsewhere).
	StopTimeout time.Duration

	// Bucket and Prefix say where objects go.
	Bucket string
	Prefix string
	// InboxBucket and InboxPrefix say where the ingress queues the
	// notifications Temporal did not take; the worker drains them. Empty
	// means Bucket and Prefix + inbox.DirName.
	InboxBucket string
	InboxPrefix string
	// DrainInterval is the pause between passes over the inbox; zero is
	// inbox.DefaultDrainInterval. NoDrain leaves the inbox alone.
	DrainInterval time.Duration
	NoDrain       bool
	// DataConverter must be the client's (it decodes the inbox's entries and
	// encodes the inputs of the runs they start); nil is the default.
	DataConverter converter.DataConverter
	// StorageEndpoint points the GCS client at an emulator
	// (e.g. http://127.0.0.1:4443); empty means real GCS with Application
	// Default Credentials.
	StorageEndpoint string

	CallbackURL     string
	CallbackSecrets []webhook.Secret

	// Origins limits where media may be fetched from; Callbacks where the
	// callback may be sent (a backend on a private network needs AllowPrivate).
	Origins   safehttp.Policy
	Callbacks safehttp.Policy
	// MaxResponseHeaderBytes refuses origin and callback responses with
	// larger headers; 0 is safehttp.DefaultMaxResponseHeaderBytes.
	MaxResponseHeaderBytes int64
	// HostSlotPercent is the share of a queue's slots (VideoSlots,
	// ActivitySlots) that transfers from one origin host may hold at once,
	// in percent, at least one slot; 0 is DefaultHostSlotPercent.
	HostSlotPercent int

	Transfer activities.TransferSettings
	// Metrics receives the transfer metrics; nil records none.
	Metrics prometheus.Registerer
	Logger  *slog.Logger
	// Tracing, when enabled, adds client spans (and traceparent headers) to
	// every origin and callback request; activity spans come from the
	// Temporal client's tracing interceptor.
	Tracing *tracing.Tracing
}

// Defaults for zero Config fields.
const (
	DefaultVideoSlots    = 4
	DefaultActivitySlots = 100
	DefaultStopTimeout   = 30 * time.Second
	// DefaultHostSlotPercent leaves a quarter of the slots to other hosts
	// whatever one host's transfers do.
	DefaultHostSlotPercent = 75
)

// AllTaskQueues lists the queues a worker polls unless told otherwise.
var AllTaskQueues = []string{workflows.TaskQueue, workflows.VideoTaskQueue}

// Run registers the workflow and activities and polls until ctx is done,
// then stops polling and gives in-flight activities StopTimeout to finish.
func Run(ctx context.Context, cfg Config, c client.Client) error {
	if cfg.Namespace != "" {
		if err := CheckSearchAttributes(ctx, c, cfg.Namespace); err != nil {
			return err
		}
	}
	acts, closeDeps, err := NewActivities(ctx, cfg)
	if err != nil {
		return err
	}
	defer closeDeps()

	queues := cfg.TaskQueues
	if len(queues) == 0 {
		queues = AllTaskQueues
	}
	var workers []sdkworker.Worker
	for _, q := range queues {
		w, err := newWorker(c, q, cfg, acts)
		if err != nil {
			return err
		}
		workers = append(workers, w)
	}
	for i, w := range workers {
		if err := w.Start(); err != nil {
			for _, started := range workers[:i] {
				started.Stop()
			}
			return fmt.Errorf("starting worker for task queue %s: %w", queues[i], err)
		}
	}
	logger(cfg).Info("worker polling", "taskQueues", queues)
	drained := make(chan error, 1)
	if cfg.NoDrain {
		drained <- nil
	} else {
		d := NewDrainer(cfg, c, acts.Storage)
		logger(cfg).Info("draining the inbox", "bucket", d.Inbox.Bucket, "prefix", d.Inbox.Prefix)
		go func() { drained <- d.Run(ctx) }()
	}
	<-ctx.Done()
	<-drained
	logger(cfg).Info("worker stopping; letting in-flight activities finish", "stopTimeout", stopTimeout(cfg))
	// Stop all workers at once: each Stop blocks until its in-flight tasks
	// finish or StopTimeout passes, and then cancels what is left.
	var wg sync.WaitGroup
	for _, w := range workers {
		wg.Go(w.Stop)
	}
	wg.Wait()
	return nil
}

// NewDrainer is the drainer of cfg's inbox, starting runs through c.
func NewDrainer(cfg Config, c client.Client, gcs *storage.Client) *inbox.Drainer {
	var m *inbox.Metrics
	if cfg.Metrics != nil {
		m = inbox.NewMetrics(cfg.Metrics)
	}
	return &inbox.Drainer{
		Inbox:    inbox.New(gcs, InboxBucket(cfg), InboxPrefix(cfg), cfg.DataConverter),
		Temporal: c,
		Start: workflows.StartOptions{Namespace: cmp.Or(cfg.Namespace, "default"), DataConverter: cfg.DataConverter,
			Identity: "wochit-ingest worker (inbox drain)", Tracing: cfg.Tracing},
		Interval: cfg.DrainInterval,
		Metrics:  m,
		Logger:   logger(cfg).With("component", "inbox-drain"),
	}
}

// InboxBucket is the bucket of cfg's inbox.
func InboxBucket(cfg Config) string { return cmp.Or(cfg.InboxBucket, cfg.Bucket) }

// InboxPrefix is the prefix of cfg's inbox.
func InboxPrefix(cfg Config) string { return cmp.Or(cfg.InboxPrefix, cfg.Prefix+inbox.DirName) }

func newWorker(c client.Client, queue string, cfg Config, acts *activities.Activities) (sdkworker.Worker, error) {
	opts, err := workerOptions(queue, cfg)
	if err != nil {
		return nil, err
	}
	w := sdkworker.New(c, queue, opts)
	if queue == workflows.TaskQueue {
		w.RegisterWorkflowWithOptions(workflows.IngestVideo, workflow.RegisterOptions{Name: workflows.IngestVideoName})
	}
	w.RegisterActivity(acts) // on the video queue only TransferToGCS is ever scheduled
	return w, nil
}

// SDKOptions are the SDK worker options Run gives queue's worker under
// cfg: a benchmark's baseline worker runs with the same slots and timings.
func SDKOptions(queue string, cfg Config) (sdkworker.Options, error) {
	return workerOptions(queue, cfg)
}

// workerOptions sizes each queue's worker: its slots bound the memory and
// connections the activities it runs may hold at once.
func workerOptions(queue string, cfg Config) (sdkworker.Options, error) {
	opts := sdkworker.Options{
		WorkerStopTimeout: stopTimeout(cfg),
		// Send transfer progress to the server every few seconds, so the Web
		// UI and `send --wait` show it (the SDK default is up to 30 s).
		MaxHeartbeatThrottleInterval: HeartbeatThrottle,
	}
	switch queue {
	case workflows.TaskQueue:
		opts.MaxConcurrentActivityExecutionSize = cmp.Or(cfg.ActivitySlots, DefaultActivitySlots)
	case workflows.VideoTaskQueue:
		opts.MaxConcurrentActivityExecutionSize = cmp.Or(cfg.VideoSlots, DefaultVideoSlots)
	default:
		return opts, fmt.Errorf("unknown task queue %q (known: %v)", queue, AllTaskQueues)
	}
	return opts, nil
}

// NewActivities builds the activities' dependencies from the configuration.
// The returned func releases them.
func NewActivities(ctx context.Context, cfg Config) (*activities.Activities, func(), error) {
	if cfg.Bucket == "" {
		return nil, nil, errors.New("worker: GCS bucket is not set")
	}
	var signer *webhook.Signer
	if len(cfg.CallbackSecrets) > 0 {
		var err error
		if signer, err = webhook.NewSigner(cfg.CallbackSecrets...); err != nil {
			return nil, nil, err
		}
	}
	var storageOpts []option.ClientOption
	if cfg.StorageEndpoint != "" {
		// What the storage client does itself for STORAGE_EMULATOR_HOST,
		// for an endpoint given by flag too.
		storageOpts = []option.ClientOption{option.WithEndpoint(cfg.StorageEndpoint + "/storage/v1/"), option.WithoutAuthentication()}
	}
	gcs, err := storage.NewClient(ctx, storageOpts...)
	if err != nil {
		return nil, nil, fmt.Errorf("creating GCS client: %w", err)
	}
	origin := safehttp.NewClient(cfg.Origins, safehttp.ClientOptions{MaxRedirects: 3, MaxResponseHeaderBytes: cfg.MaxResponseHeaderBytes})
	origin.Transport = cfg.Tracing.Transport(origin.Transport)
	callback := safehttp.NewClient(cfg.Callbacks, safehttp.ClientOptions{Timeout: activities.CallbackTimeout, MaxResponseHeaderBytes: cfg.MaxResponseHeaderBytes})
	callback.Transport = cfg.Tracing.Transport(callback.Transport)
	acts := &activities.Activities{
		Origin:      origin,
		Callback:    callback,
		Storage:     gcs,
		Bucket:      cfg.Bucket,
		Prefix:      cfg.Prefix,
		CallbackURL: cfg.CallbackURL,
		Signer:      signer,
		Transfer:    withHostSlots(cfg),
	}
	if cfg.Metrics != nil {
		acts.Metrics = activities.NewMetrics(cfg.Metrics)
	}
	return acts, func() { _ = gcs.Close() }, nil
}

// withHostSlots sets how many transfers of each kind one origin host may
// run at once in this process: its share of the queue's slots, at least one.
func withHostSlots(cfg Config) activities.TransferSettings {
	t := cfg.Transfer
	percent := cmp.Or(cfg.HostSlotPercent, DefaultHostSlotPercent)
	share := func(slots int) int { return max(1, slots*percent/100) }
	t.VideoHostSlots = share(cmp.Or(cfg.VideoSlots, DefaultVideoSlots))
	t.ThumbnailHostSlots = share(cmp.Or(cfg.ActivitySlots, DefaultActivitySlots))
	return t
}

func stopTimeout(cfg Config) time.Duration {
	if cfg.StopTimeout == 0 {
		return DefaultStopTimeout
	}
	return cfg.StopTimeout
}

func logger(cfg Config) *slog.Logger {
	if cfg.Logger == nil {
		return slog.Default()
	}
	return cfg.Logger
}

// ValidTaskQueue reports whether q is one this worker knows how to serve.
func ValidTaskQueue(q string) bool { return slices.Contains(AllTaskQueues, q) }

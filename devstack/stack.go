// Package devstack runs the whole system in one process: a real Temporal
// server on SQLite with its Web UI, a GCS emulator that keeps objects on disk,
// the worker, the ingress, demo media and a callback receiver. `wochit-ingest
// dev` uses it with fixed ports; end-to-end tests use it with random ports.
package devstack

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"golang.org/x/time/rate"

	"github.com/wochit-ingest/wochit-ingest/activities"
	"github.com/wochit-ingest/wochit-ingest/devstack/gcsemu"
	"github.com/wochit-ingest/wochit-ingest/devstack/mediaorigin"
	"github.com/wochit-ingest/wochit-ingest/inbox"
	"github.com/wochit-ingest/wochit-ingest/ingress"
	"github.com/wochit-ingest/wochit-ingest/internal/httpserver"
	"github.com/wochit-ingest/wochit-ingest/internal/metrics"
	"github.com/wochit-ingest/wochit-ingest/internal/payloadcodec"
	"github.com/wochit-ingest/wochit-ingest/internal/safehttp"
	"github.com/wochit-ingest/wochit-ingest/internal/temporalclient"
	"github.com/wochit-ingest/wochit-ingest/internal/webhook"
	"github.com/wochit-ingest/wochit-ingest/worker"
)

// Options configure a stack. Addresses are host:port; port 0 picks a free one.
type Options struct {
	DataDir string

	TemporalAddr string
	UIAddr       string // empty: no Web UI
	GCSAddr      string
	IngressAddr  string
	// AdminAddr serves the ingress's /healthz, /readyz and /metrics; empty
	// means DefaultAdminAddr, or a free port when IngressAddr asks for one.
	AdminAddr string
	DevAddr   string // demo media and the built-in callback receiver

	Bucket string
	Prefix string

	// CallbackURL is where callbacks go; empty means the built-in receiver.
	CallbackURL string
	// CallbackSecrets sign callbacks; empty means a secret generated once and
	// kept in <DataDir>/callback-secret.
	CallbackSecrets []webhook.Secret
	// PayloadKeys encrypt workflow payloads (payloadcodec's PAYLOAD_KEYS
	// format); empty means a key generated once and kept in
	// <DataDir>/payload-keys, so a restarted dev decrypts its history.
	PayloadKeys string
	// CallbackSchedule overrides the callback retry schedule (tests).
	CallbackSchedule []time.Duration

	Transfer          activities.TransferSettings
	WorkerStopTimeout time.Duration
	// NoWorker leaves the worker out, for tests that run workers as
	// separate processes.
	NoWorker bool
	// NoRateLimit turns the ingress's per-source rate limit off, for
	// benchmarks that push one source far beyond any real sender.
	NoRateLimit bool
	Logger      *slog.Logger
}

// Default addresses of `wochit-ingest dev`.
const (
	DefaultTemporalAddr = "127.0.0.1:7233"
	DefaultUIAddr       = "127.0.0.1:8233"
	DefaultGCSAddr      = "127.0.0.1:4443"
	DefaultIngressAddr  = "127.0.0.1:8080"
	DefaultDevAddr      = "127.0.0.1:8081"
	DefaultAdminAddr    = "127.0.0.1:9090"
	DefaultBucket       = "wochit-videos"
	DefaultPrefix       = "videos/"
)

// Demo media paths on the dev server, used by `send --demo`.
const (
	DemoVideoPath     = "/media/demo-video.mp4"
	DemoThumbnailPath = "/media/demo-thumbnail.png"
	demoVideoSize     = 48 << 20
	// The demo video is served at a modest rate so `send --demo --wait` has
	// progress to show and there is time to try stopping `dev` mid-transfer.
	demoBytesPerSecond = 12 << 20
)

// Stack is a running dev stack.
type Stack struct {
	TemporalAddr string
	UIURL        string // empty when the UI is off
	GCSURL       string
	IngressURL   string
	AdminURL     string // the ingress's probes and metrics
	DevURL       string
	CallbackURL  string
	Bucket       string
	Prefix       string

	// Client is connected to the embedded server's namespace, and encrypts
	// payloads with PayloadKeys.
	Client client.Client
	// PayloadKeys are the keys the stack's payloads are encrypted with, for
	// processes that join it (PAYLOAD_KEYS); DataConverter decodes them.
	PayloadKeys   string
	DataConverter converter.DataConverter
	// CodecURL is dev's codec server; it requires CodecToken, as a Bearer
	// (temporal --codec-endpoint CodecURL --codec-auth "Bearer <token>") or
	// in the path: the Web UI decodes through CodecURL/<token>.
	CodecURL   string
	CodecToken string
	// Receiver is the built-in callback receiver (used when no CallbackURL
	// was given; it listens either way).
	Receiver *Receiver
	// Inbox is where the ingress queues notifications Temporal does not
	// take; the worker drains it.
	Inbox *inbox.Inbox
	// Media serves the demo files; tests may Put more.
	Media *mediaorigin.Origin
	// Metrics holds every metric of the stack, served on the ingress's
	// admin listener's /metrics.
	Metrics *prometheus.Registry

	log        *slog.Logger
	stops      []stopper // in start order; Stop runs them in reverse
	workerDone chan error
}

// Start brings the stack up and returns once every part is serving: GCS,
// the dev server (demo media, the callback receiver, the codec server),
// Temporal and its Web UI, the client, the worker and the ingress, in that
// order. If a step fails, what started is stopped.
func Start(ctx context.Context, opts Options) (_ *Stack, err error) {
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	dataDir, err := makeDataDir(opts.DataDir)
	if err != nil {
		return nil, err
	}
	s := &Stack{log: log, Bucket: cmp.Or(opts.Bucket, DefaultBucket), Prefix: cmp.Or(opts.Prefix, DefaultPrefix)}
	defer func() {
		if err != nil {
			_ = s.Stop(context.Background())
		}
	}()

	secrets, keys, err := s.loadKeys(opts, dataDir)
	if err != nil {
		return nil, err
	}
	uiAddr := opts.UIAddr
	if uiAddr != "" {
		if uiAddr, err = resolvePort(uiAddr); err != nil {
			return nil, err
		}
	}
	l, err := bindListeners(opts)
	if err != nil {
		return nil, err
	}
	if err = s.serveGCS(l.gcs, dataDir); err != nil {
		l.ingress.Close()
		l.admin.Close()
		l.dev.Close()
		return nil, err
	}
	if err = s.serveDev(l.dev, dataDir, secrets, keys, uiAddr, opts.CallbackURL); err != nil {
		return nil, err
	}
	if err = s.runTemporal(opts.TemporalAddr, dataDir, uiAddr); err != nil {
		return nil, err
	}
	if err = s.connect(ctx, keys); err != nil {
		return nil, err
	}
	// Worker. In dev, media and callbacks may live on this machine.
	if !opts.NoWorker {
		s.startWorker(opts, secrets)
	}
	if err = s.openInbox(ctx); err != nil {
		l.ingress.Close()
		l.admin.Close()
		return nil, err
	}
	s.serveIngress(l.ingress, l.admin, opts)
	return s, nil
}

// makeDataDir creates dir, returning its absolute path.
func makeDataDir(dir string) (string, error) {
	if dir == "" {
		return "", errors.New("devstack: DataDir is required")
	}
	dataDir, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return "", fmt.Errorf("creating data dir: %w", err)
	}
	return dataDir, nil
}

// loadKeys returns the callback signing secrets and the payload keys, the
// options' or those kept in dataDir (generated on first start), and sets
// the stack's PayloadKeys and DataConverter.
func (s *Stack) loadKeys(opts Options, dataDir string) (secrets []webhook.Secret, keys *payloadcodec.Keyring, err error) {
	secrets = opts.CallbackSecrets
	if len(secrets) == 0 {
		if secrets, err = devSecret(filepath.Join(dataDir, "callback-secret")); err != nil {
			return nil, nil, err
		}
	}
	s.PayloadKeys = opts.PayloadKeys
	if s.PayloadKeys == "" {
		if s.PayloadKeys, err = devPayloadKeys(filepath.Join(dataDir, "payload-keys")); err != nil {
			return nil, nil, err
		}
	}
	keys, err = payloadcodec.ParseKeyring(s.PayloadKeys)
	if err != nil {
		return nil, nil, fmt.Errorf("payload keys: %w", err)
	}
	s.DataConverter = payloadcodec.DataConverter(keys)
	return secrets, keys, nil
}

// listeners are the stack's HTTP listeners, bound before anything starts.
type listeners struct{ gcs, ingress, admin, dev net.Listener }

// bindListeners binds every listener first, so a taken port fails now and
// clearly; on an error none is left open.
func bindListeners(opts Options) (l listeners, err error) {
	if l.gcs, err = listen("GCS emulator", cmp.Or(opts.GCSAddr, DefaultGCSAddr)); err != nil {
		return listeners{}, err
	}
	if l.ingress, err = listen("ingress", cmp.Or(opts.IngressAddr, DefaultIngressAddr)); err != nil {
		l.gcs.Close()
		return listeners{}, err
	}
	if l.admin, err = listen("ingress admin", adminAddr(opts)); err != nil {
		l.gcs.Close()
		l.ingress.Close()
		return listeners{}, err
	}
	if l.dev, err = listen("dev server", cmp.Or(opts.DevAddr, DefaultDevAddr)); err != nil {
		l.gcs.Close()
		l.ingress.Close()
		l.admin.Close()
		return listeners{}, err
	}
	return l, nil
}

// serveGCS starts the GCS emulator on l, objects on disk in dataDir.
func (s *Stack) serveGCS(l net.Listener, dataDir string) error {
	gcs, err := startGCS(l, filepath.Join(dataDir, "gcs"), s.Bucket)
	if err != nil {
		return err
	}
	s.GCSURL = gcs.url
	s.onStop("GCS emulator", gcs.stop)
	return nil
}

// serveDev starts the dev server on l: demo media, the callback receiver
// (verifying with secrets) and the codec server. Callbacks go to
// callbackURL, or to the receiver when it is empty.
func (s *Stack) serveDev(l net.Listener, dataDir string, secrets []webhook.Secret, keys *payloadcodec.Keyring, uiAddr, callbackURL string) (err error) {
	s.Media = DemoMedia()
	s.Receiver = NewReceiver(secrets, s.log.With("component", "dev-callback-receiver"))
	// The codec server decrypts for whoever presents its token: the Web UI
	// gets it in its endpoint, a CLI user reads it from the data dir.
	if s.CodecToken, err = keptInFile(filepath.Join(dataDir, "codec-token"), "dev codec token", randomToken); err != nil {
		return err
	}
	codec := payloadcodec.Handler(keys, payloadcodec.HandlerOptions{AllowedOrigins: uiOrigins(uiAddr), Tokens: []string{s.CodecToken}})
	devServer := httpserver.Serve(&http.Server{Handler: DemoHandler(s.Media, s.Receiver, codec), ReadHeaderTimeout: 5 * time.Second}, l)
	s.DevURL = devServer.URL()
	s.CodecURL = s.DevURL + CodecPath
	s.onStop("dev server", devServer.Shutdown)
	s.CallbackURL = cmp.Or(callbackURL, s.DevURL+"/callbacks")
	return nil
}

// runTemporal starts the Temporal server on addr (its history in dataDir)
// and, when uiAddr is set, its Web UI decoding through the codec server.
func (s *Stack) runTemporal(addr, dataDir, uiAddr string) error {
	temporalAddr, err := resolvePort(cmp.Or(addr, DefaultTemporalAddr))
	if err != nil {
		return err
	}
	ts, err := startTemporal(filepath.Join(dataDir, "temporal.db"), temporalAddr, s.log)
	if err != nil {
		return err
	}
	s.TemporalAddr = temporalAddr
	s.onStop("Temporal server", func(context.Context) error { return ts.stop() })
	if uiAddr != "" {
		stopUI, err := startUI(uiAddr, temporalAddr, s.CodecURL+"/"+s.CodecToken)
		if err != nil {
			return err
		}
		s.UIURL = "http://" + uiAddr
		s.onStop("Web UI", func(context.Context) error { stopUI(); return nil })
	}
	return nil
}

// connect makes the stack's one client, for the ingress and the worker,
// with the worker's patient heartbeats, its payloads encrypted with keys and
// its metrics in the stack's registry.
func (s *Stack) connect(ctx context.Context, keys *payloadcodec.Keyring) error {
	dialCtx, cancelDial := context.WithTimeout(ctx, 30*time.Second)
	defer cancelDial()
	// One registry for the whole process: dev's ingress serves it on
	// /metrics, with the worker's transfer metrics and the SDK's.
	s.Metrics = metrics.NewRegistry()
	c, closeClient, err := temporalclient.Dial(dialCtx, worker.ClientOptions(temporalConn(s.TemporalAddr, keys)), temporalclient.Options{Logger: s.log, Metrics: s.Metrics})
	if err != nil {
		return fmt.Errorf("connecting to the embedded Temporal server: %w", err)
	}
	s.Client = c
	s.onStop("Temporal client", func(context.Context) error { closeClient(); return nil })
	// A database from an older dev has its namespace already, without the
	// search attributes added since (FailureReason): add what is missing.
	if _, err := worker.RegisterSearchAttributes(dialCtx, c, Namespace); err != nil {
		return err
	}
	return nil
}

// adminAddr is where the ingress's admin listener goes: a free port when
// the ingress takes one (tests), else DefaultAdminAddr.
func adminAddr(opts Options) string {
	if opts.AdminAddr != "" {
		return opts.AdminAddr
	}
	if host, port, err := net.SplitHostPort(opts.IngressAddr); err == nil && port == "0" {
		return net.JoinHostPort(host, "0")
	}
	return DefaultAdminAddr
}

// openInbox opens the inbox the ingress queues into when Temporal does not
// take a start; dev's worker drains it.
func (s *Stack) openInbox(ctx context.Context) error {
	gcs, err := gcsemu.NewClient(ctx, s.GCSURL)
	if err != nil {
		return err
	}
	s.onStop("inbox GCS client", func(context.Context) error { return gcs.Close() })
	s.Inbox = inbox.New(gcs, s.Bucket, s.Prefix+inbox.DirName, s.DataConverter)
	return nil
}

// serveIngress starts the ingress on l, its probes and metrics on admin.
// In dev there is no allowlist and no token, and media may be plain http on
// this machine; the input rules and limits are production's. Every exchange
// is held to docs/openapi.yaml (checkContract).
func (s *Stack) serveIngress(l, admin net.Listener, opts Options) {
	front := ingress.NewServer(ingress.Config{
		Namespace:        Namespace,
		AnySource:        true,
		AllowHTTPURLs:    true,
		OriginPolicy:     devPolicy,
		RateLimit:        ingressRateLimit(opts),
		RateBurst:        ingress.DefaultRateBurst,
		CallbackSchedule: opts.CallbackSchedule,
		Registry:         s.Metrics,
		DataConverter:    s.DataConverter,
		Inbox:            s.Inbox,
		Logger:           s.log.With("component", "ingress"),
	}, s.Client)
	ingressServing := httpserver.Serve(httpserver.New(checkContract(front, s.log.With("component", "contract-check"))), l)
	s.IngressURL = ingressServing.URL()
	s.onStop("ingress", ingressServing.Shutdown)
	adminServing := httpserver.Serve(httpserver.New(front.Admin()), admin)
	s.AdminURL = adminServing.URL()
	s.onStop("ingress admin", adminServing.Shutdown)
}

// temporalConn is the connection to the embedded server, its payloads
// encrypted with keys.
func temporalConn(addr string, keys *payloadcodec.Keyring) client.Options {
	conn := client.Options{HostPort: addr, Namespace: Namespace}
	temporalclient.Encrypt(&conn, keys)
	return conn
}

type stopper struct {
	name string
	stop func(context.Context) error
}

func (s *Stack) onStop(name string, stop func(context.Context) error) {
	s.stops = append(s.stops, stopper{name, stop})
}

func ingressRateLimit(opts Options) rate.Limit {
	if opts.NoRateLimit {
		return rate.Inf
	}
	return ingress.DefaultRateLimit
}

// devPolicy lets dev's worker and ingress use media and callbacks on this
// machine (loopback, private addresses, any port).
var devPolicy = safehttp.Policy{AllowPrivate: true, AllowAnyPort: true}

func (s *Stack) startWorker(opts Options, secrets []webhook.Secret) {
	workerCtx, stopWorker := context.WithCancel(context.Background())
	s.workerDone = make(chan error, 1)
	go func() {
		s.workerDone <- worker.Run(workerCtx, worker.Config{
			Namespace:       Namespace,
			StopTimeout:     opts.WorkerStopTimeout,
			Bucket:          s.Bucket,
			Prefix:          s.Prefix,
			StorageEndpoint: s.GCSURL,
			CallbackURL:     s.CallbackURL,
			CallbackSecrets: secrets,
			Origins:         devPolicy,
			Callbacks:       devPolicy,
			Transfer:        opts.Transfer,
			DataConverter:   s.DataConverter,
			Metrics:         s.Metrics,
			Logger:          s.log.With("component", "worker"),
		}, s.Client)
	}()
	s.onStop("worker", func(context.Context) error {
		stopWorker()
		return <-s.workerDone
	})
}

// Stop shuts everything down in reverse order: the ingress stops accepting,
// the worker lets in-flight activities finish (up to its stop timeout), then
// the servers stop. Everything durable is already in the data dir.
func (s *Stack) Stop(ctx context.Context) error {
	var errs []error
	for i := len(s.stops) - 1; i >= 0; i-- {
		start := time.Now()
		if err := s.stops[i].stop(ctx); err != nil {
			errs = append(errs, fmt.Errorf("stopping %s: %w", s.stops[i].name, err))
		}
		s.log.Debug("stopped", "part", s.stops[i].name, "took", time.Since(start))
	}
	s.stops = nil
	return errors.Join(errs...)
}

// DemoURLs returns the demo media URLs served by this stack.
func (s *Stack) DemoURLs() (video, thumbnail string) {
	return s.DevURL + DemoVideoPath, s.DevURL + DemoThumbnailPath
}

func listen(what, addr string) (net.Listener, error) {
	l, err := httpserver.Listen(addr)
	if err != nil {
		return nil, fmt.Errorf("%s cannot listen on %s: %w", what, addr, err)
	}
	return l, nil
}

// resolvePort replaces port 0 with a free port, for servers that bind
// addresses themselves.
func resolvePort(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("address %q: %w", addr, err)
	}
	if port != "0" {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			return "", fmt.Errorf("cannot listen on %s: %w", addr, err)
		}
		l.Close()
		return addr, nil
	}
	ports, err := freePorts(host, 1)
	if err != nil {
		return "", err
	}
	return net.JoinHostPort(host, fmt.Sprint(ports[0])), nil
}

// devSecret loads the dev signing secret, creating it on first start so
// restarts keep verifying deliveries of earlier runs.
func devSecret(path string) ([]webhook.Secret, error) {
	encoded, err := keptInFile(path, "dev callback secret", func() string {
		key := make([]byte, 32)
		_, _ = rand.Read(key) // never fails (crypto/rand)
		return webhook.Secret(key).Encode()
	})
	if err != nil {
		return nil, err
	}
	s, err := webhook.ParseSecret(encoded)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return []webhook.Secret{s}, nil
}

// randomToken is 32 random hex digits (128 bits).
func randomToken() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return hex.EncodeToString(b)
}

// devPayloadKeys reads dev's payload key from path, or generates one there.
func devPayloadKeys(path string) (string, error) {
	return keptInFile(path, "dev payload key", payloadcodec.GenerateKey)
}

// keptInFile returns the value kept in path, or generates one and keeps it
// there, for the dev values a restarted dev must still have. A file that
// exists but cannot be read is an error, never replaced: the history (or
// the receiver) needs the value it holds.
func keptInFile(path, what string, generate func() string) (string, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		return strings.TrimSpace(string(b)), nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("reading the %s: %w", what, err)
	}
	v := generate()
	if err := os.WriteFile(path, []byte(v+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("writing the %s: %w", what, err)
	}
	return v, nil
}

// uiOrigins are the origins a browser may show the Web UI at: the codec
// server answers their CORS requests.
func uiOrigins(uiAddr string) []string {
	if uiAddr == "" {
		return nil
	}
	host, port, err := net.SplitHostPort(uiAddr)
	if err != nil {
		return nil
	}
	origins := []string{"http://" + uiAddr}
	if host == "127.0.0.1" || host == "localhost" || host == "0.0.0.0" || host == "" {
		origins = append(origins, "http://127.0.0.1:"+port, "http://localhost:"+port)
	}
	return origins
}

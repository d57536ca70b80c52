// Package ingress is the HTTP front door: it accepts Wochit's notifications
// and answers 2xx only once Temporal has durably accepted the workflow that
// will ingest the video. It keeps no state of its own, so any number of
// replicas can run behind a load balancer.
//
// A notification passes, in order: the source allowlist (403), the
// per-source rate limit (429), the token (401), the method (405), the content
// encoding (415), the size limit (413), decoding and validation (400), the
// cap on workflow starts in flight (429), and finally the start itself
// (202/200, 409 for a different notification of a started video). When
// Temporal does not take the start (unavailable, too slow, overloaded), the
// notification goes to the inbox instead (202 with "queued": true); 503 only
// when neither took it.
//
// The public handler (Server) serves only the webhook routes; probes and
// metrics are on Admin, for a listener of their own.
package ingress

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"golang.org/x/time/rate"

	prommetrics "github.com/wochit-ingest/wochit-ingest/internal/metrics"
	"github.com/wochit-ingest/wochit-ingest/internal/safehttp"
	"github.com/wochit-ingest/wochit-ingest/internal/tracing"
	"github.com/wochit-ingest/wochit-ingest/workflows"
)

// Config tunes the ingress. Its zero value is production's closed door:
// only Wochit's addresses may post, at the default rates. Opening it is
// explicit (AnySource, rate.Inf), for `dev` and tests. Tokens are optional,
// as in production: Wochit documents no signature, so a token is an extra
// the customer opts into.
type Config struct {
	// Namespace the workflows are started in (the client's namespace).
	Namespace string

	// AllowHTTPURLs accepts plain-http media URLs (dev); otherwise https only.
	AllowHTTPURLs bool
	// OriginPolicy is the policy the workers fetch media under. A media URL
	// it refuses by its spelling alone (an IP literal in a blocked range, an
	// internal name, a port not allowed) is refused here already. The zero
	// value is production's.
	OriginPolicy safehttp.Policy
	// MediaHosts, when not empty, limits media URLs to these hosts:
	// "cdn.example.com" exactly, ".example.com" any subdomain of example.com.
	MediaHosts []string

	// AllowedSources are the only client addresses that may post
	// notifications; empty means WochitSources.
	AllowedSources []netip.Prefix
	// AnySource lets every address post, whatever AllowedSources says (dev).
	AnySource bool
	// TrustedProxies are load balancers whose X-Forwarded-For entries are
	// believed when determining the client address.
	TrustedProxies []netip.Prefix
	// Tokens, when not empty, are the shared secrets of which a notification
	// must present one; several at once allow rotation.
	Tokens []Token

	// RateLimit is the sustained notifications per second allowed per source,
	// with bursts of RateBurst; zero means DefaultRateLimit and
	// DefaultRateBurst, rate.Inf no per-source limit.
	RateLimit rate.Limit
	RateBurst int
	// MaxConcurrentStarts caps the workflow starts in flight; beyond it
	// notifications are answered 429. Defaults to DefaultMaxConcurrentStarts.
	MaxConcurrentStarts int

	// StartTimeout bounds the wait for Temporal to accept a workflow start;
	// after it the notification goes to the inbox. Defaults to
	// DefaultStartTimeout.
	StartTimeout time.Duration
	// Inbox takes the notifications Temporal does not (see inbox.Inbox);
	// nil means none, and such a notification gets 503.
	Inbox Inbox
	// InboxTimeout bounds an inbox write. Defaults to 5 s.
	InboxTimeout time.Duration
	// ReadyTTL is how long a readiness result is reused. Defaults to 5 s.
	ReadyTTL time.Duration
	// CallbackSchedule is passed to new workflows; empty means the default.
	CallbackSchedule []time.Duration
	// DataConverter must match the workers' (default converter when nil).
	DataConverter converter.DataConverter
	// Tracing, when enabled, starts a span per notification (a new trace,
	// linked to the sender's) that the workflow start continues; the
	// Temporal client carries the SDK's tracing interceptor.
	Tracing *tracing.Tracing
	// Registry receives the ingress metrics and is served on /metrics; nil
	// means a registry of the server's own.
	Registry *prometheus.Registry
	Logger   *slog.Logger
	// Now is the clock; tests may replace it.
	Now func() time.Time
}

// DefaultStartTimeout is Config.StartTimeout's default.
const DefaultStartTimeout = 5 * time.Second

// Server handles the ingress routes.
type Server struct {
	cfg      Config
	temporal client.Client
	log      *slog.Logger
	handler  http.Handler

	sources sources
	tokens  tokens
	urls    urlRules
	limiter *sourceLimiter
	slots   startSlots
	metrics *metrics
	ready   readiness
	admin   http.Handler
}

// Inbox is where notifications go when Temporal does not take them.
type Inbox interface {
	// Put makes in durable; an equal notification already there is success.
	Put(ctx context.Context, in workflows.IngestInput) (name string, err error)
	// Probe reports whether Put would work now.
	Probe(ctx context.Context) error
}

// NewServer returns the ingress HTTP handler.
func NewServer(cfg Config, c client.Client) *Server {
	if cfg.StartTimeout == 0 {
		cfg.StartTimeout = DefaultStartTimeout
	}
	if cfg.InboxTimeout == 0 {
		cfg.InboxTimeout = 5 * time.Second
	}
	if cfg.ReadyTTL == 0 {
		cfg.ReadyTTL = DefaultReadyTTL
	}
	if cfg.DataConverter == nil {
		cfg.DataConverter = converter.GetDefaultDataConverter()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Namespace == "" {
		cfg.Namespace = "default"
	}
	if cfg.MaxConcurrentStarts <= 0 {
		cfg.MaxConcurrentStarts = DefaultMaxConcurrentStarts
	}
	if len(cfg.AllowedSources) == 0 {
		cfg.AllowedSources = WochitSources
	}
	if cfg.AnySource {
		cfg.AllowedSources = nil
	}
	if cfg.RateLimit == 0 {
		cfg.RateLimit = DefaultRateLimit
	}
	if cfg.RateBurst == 0 {
		cfg.RateBurst = DefaultRateBurst
	}
	if cfg.Registry == nil {
		// Its own registry, so several servers (in tests) never collide.
		cfg.Registry = prommetrics.NewRegistry()
	}
	s := &Server{
		cfg:      cfg,
		temporal: c,
		log:      cfg.Logger,
		sources:  sources{allow: cfg.AllowedSources, trusted: cfg.TrustedProxies},
		tokens:   newTokens(cfg.Tokens),
		urls:     urlRules{allowHTTP: cfg.AllowHTTPURLs, policy: cfg.OriginPolicy, mediaHosts: normalizeHosts(cfg.MediaHosts)},
		limiter:  newSourceLimiter(cfg.RateLimit, cfg.RateBurst),
		slots:    make(startSlots, cfg.MaxConcurrentStarts),
		metrics:  newMetrics(cfg.Registry),
	}
	s.cfg.Tokens = nil // only their hashes are kept
	if s.log == nil {
		s.log = slog.Default()
	}
	s.handler = s.routes()
	s.admin = s.adminRoutes()
	return s
}

func normalizeHosts(hosts []string) []string {
	out := make([]string, 0, len(hosts))
	for _, h := range hosts {
		out = append(out, strings.ToLower(strings.TrimSuffix(strings.TrimSpace(h), ".")))
	}
	return out
}

// ServeHTTP serves the public routes: the webhook, and nothing else.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// Admin serves /healthz, /readyz and /metrics, for the admin listener
// (INGRESS_ADMIN_ADDR): probes and metrics are not the public's business.
func (s *Server) Admin() http.Handler { return s.admin }

// startResponse is the body of 202 and 200 answers. A queued notification
// has no run yet.
type startResponse struct {
	WorkflowID string `json:"workflowId"`
	RunID      string `json:"runId,omitempty"`
	Queued     bool   `json:"queued,omitempty"`
}

func (s *Server) handleNotification(w http.ResponseWriter, r *http.Request) {
	receivedAt := s.cfg.Now()
	n, unknown, apiErr := decodeNotification(r.Body, s.urls, receivedAt)
	if apiErr != nil {
		if apiErr.Field != "" {
			noteAttrs(w, slog.String("field", apiErr.Field))
		}
		if apiErr.Code == codePayloadTooLarge {
			reject(w, apiErr) // the rest of the body stays unread
			return
		}
		writeError(w, apiErr)
		return
	}
	if len(unknown) > 0 {
		s.metrics.unknownFields.Add(float64(len(unknown)))
		s.log.Info("notification has unknown fields", "count", len(unknown), "fields", sample(unknown), "wochitVideoId", n.WochitVideoID)
	}

	if !s.slots.tryAcquire() {
		s.metrics.rateLimited.WithLabelValues("starts").Inc()
		writeError(w, &apiError{Code: codeRateLimited, Message: "too many notifications at once; retry later", retryAfter: time.Second})
		return
	}
	defer s.slots.release()
	s.metrics.startsInFlight.Inc()
	defer s.metrics.startsInFlight.Dec()

	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.StartTimeout)
	defer cancel()
	in := workflows.IngestInput{Notification: n, ReceivedAt: receivedAt.UTC(), CallbackSchedule: s.cfg.CallbackSchedule}
	startedAt := time.Now()
	runID, started, err := s.startIngest(ctx, in)
	s.metrics.startDuration.WithLabelValues(startResult(started, err)).Observe(time.Since(startedAt).Seconds())
	var conflict *workflows.ConflictError
	if errors.As(err, &conflict) {
		// Another notification for this video is being (or was) ingested;
		// this one differs from it and is not processed. Say so, loudly.
		s.metrics.conflicts.Inc()
		s.log.Warn("notification conflicts with the run already started for its wochitVideoId; not processed",
			"wochitVideoId", n.WochitVideoID, "workflowId", conflict.WorkflowID, "runId", conflict.RunID)
		noteAttrs(w, slog.String("workflowId", conflict.WorkflowID), slog.String("runId", conflict.RunID))
		writeError(w, &apiError{Code: codeConflict, Message: "a different notification for this wochitVideoId was already accepted; this one is not processed"})
		return
	}
	if err != nil {
		s.queue(w, r, in, err)
		return
	}
	resp := startResponse{WorkflowID: workflows.WorkflowID(n.WochitVideoID), RunID: runID}
	// The access log line says which run the notification started or found.
	noteAttrs(w, slog.String("workflowId", resp.WorkflowID), slog.String("runId", runID))
	if !started {
		s.metrics.duplicates.Inc()
		writeJSON(w, http.StatusOK, resp)
		return
	}
	writeJSON(w, http.StatusAccepted, resp)
}

func startResult(started bool, err error) string {
	switch {
	case err != nil:
		return "error"
	case started:
		return "started"
	}
	return "duplicate"
}

// sample keeps a few unknown field names, shortened: they come from the
// sender and are logged only to tell operators what Wochit added.
func sample(names []string) []string {
	const maxNames, maxLen = 5, 64
	out := make([]string, 0, min(len(names), maxNames))
	for _, n := range names[:min(len(names), maxNames)] {
		if len(n) > maxLen {
			n = n[:maxLen] + "…"
		}
		out = append(out, n)
	}
	return out
}

// queue answers a notification whose start failed with err: into the inbox
// (202 queued) when Temporal was unavailable, too slow or overloaded, 503
// when that is not the reason or the inbox did not take it either.
func (s *Server) queue(w http.ResponseWriter, r *http.Request, in workflows.IngestInput, err error) {
	id := in.Notification.WochitVideoID
	if s.cfg.Inbox == nil || !workflows.TemporalUnavailable(err) {
		s.log.Error("could not start workflow", "wochitVideoId", id, "error", err)
		writeError(w, startFailure())
		return
	}
	// The inbox write outlives a sender that hung up: it may retry, and
	// either way the notification is better kept.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), s.cfg.InboxTimeout)
	defer cancel()
	start := time.Now()
	name, inboxErr := s.cfg.Inbox.Put(ctx, in)
	s.metrics.inboxDuration.WithLabelValues(resultOf(inboxErr)).Observe(time.Since(start).Seconds())
	if inboxErr != nil {
		s.log.Error("could not start workflow nor queue the notification", "wochitVideoId", id, "error", err, "inboxError", inboxErr)
		writeError(w, startFailure())
		return
	}
	s.log.Warn("Temporal did not take the start; notification queued in the inbox", "wochitVideoId", id, "object", name, "error", err)
	resp := startResponse{WorkflowID: workflows.WorkflowID(id), Queued: true}
	noteAttrs(w, slog.String("workflowId", resp.WorkflowID), slog.Bool("queued", true))
	noteQueued(w)
	writeJSON(w, http.StatusAccepted, resp)
}

func resultOf(err error) string {
	if err != nil {
		return "error"
	}
	return "ok"
}

// startFailure is the answer when neither Temporal nor the inbox durably
// took the notification: 503 with Retry-After, so a sender that retries
// loses nothing. The cause is logged, never sent.
func startFailure() *apiError {
	return &apiError{Code: codeTemporalUnavailable, Message: "the notification could not be stored; retry later", retryAfter: 5 * time.Second}
}

// startIngest starts the notification's run, or finds the one it already
// started (see workflows.StartIngest).
func (s *Server) startIngest(ctx context.Context, in workflows.IngestInput) (runID string, started bool, err error) {
	return workflows.StartIngest(ctx, s.temporal, workflows.StartOptions{
		Namespace: s.cfg.Namespace, DataConverter: s.cfg.DataConverter, Identity: "wochit-ingest ingress",
		Tracing: s.cfg.Tracing,
	}, in)
}

// Package ingress is the HTTP front door: it accepts Wochit's notifications
// and answers 2xx only once Temporal has durably accepted the workflow that
// will ingest the video. It keeps no state of its own, so any number of
// replicas can run behind a load balancer.
package ingress

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"wochit-ingest/workflows"
)

// Config tunes the ingress.
type Config struct {
	// Namespace the workflows are started in (the client's namespace).
	Namespace string
	// AllowHTTPURLs accepts plain-http media URLs (dev); otherwise https only.
	AllowHTTPURLs bool
	// StartTimeout bounds the wait for Temporal to accept a workflow start;
	// after it the caller gets 503 and should retry. Defaults to 5 s.
	StartTimeout time.Duration
	// CallbackSchedule is passed to new workflows; empty means the default.
	CallbackSchedule []time.Duration
	// DataConverter must match the workers' (default converter when nil).
	DataConverter converter.DataConverter
	Logger        *slog.Logger
	// Now is the clock; tests may replace it.
	Now func() time.Time
}

// Server handles the ingress routes.
type Server struct {
	cfg      Config
	temporal client.Client
	log      *slog.Logger
	handler  http.Handler
}

// NewServer returns the ingress HTTP handler.
func NewServer(cfg Config, c client.Client) *Server {
	if cfg.StartTimeout == 0 {
		cfg.StartTimeout = 5 * time.Second
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
	s := &Server{cfg: cfg, temporal: c, log: cfg.Logger}
	if s.log == nil {
		s.log = slog.Default()
	}
	s.handler = s.routes()
	return s
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// startResponse is the body of 202 and 200 answers.
type startResponse struct {
	WorkflowID string `json:"workflowId"`
	RunID      string `json:"runId"`
}

func (s *Server) handleNotification(w http.ResponseWriter, r *http.Request) {
	receivedAt := s.cfg.Now()
	r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
	n, unknown, apiErr := decodeNotification(r.Body, urlRules{allowHTTP: s.cfg.AllowHTTPURLs})
	if apiErr != nil {
		s.log.Info("notification rejected", "code", apiErr.Code, "field", apiErr.Field, "remote", r.RemoteAddr)
		writeError(w, apiErr)
		return
	}
	if len(unknown) > 0 {
		s.log.Info("notification has unknown fields", "fields", unknown, "wochitVideoId", n.WochitVideoID)
	}

	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.StartTimeout)
	defer cancel()
	in := workflows.IngestInput{Notification: n, ReceivedAt: receivedAt.UTC(), CallbackSchedule: s.cfg.CallbackSchedule}
	runID, started, err := s.startIngest(ctx, in)
	if err != nil {
		s.log.Error("could not start workflow", "wochitVideoId", n.WochitVideoID, "error", err)
		writeError(w, startFailure(err))
		return
	}
	resp := startResponse{WorkflowID: workflows.WorkflowID(n.WochitVideoID), RunID: runID}
	if !started {
		s.log.Info("duplicate notification", "workflowId", resp.WorkflowID, "runId", runID)
		writeJSON(w, http.StatusOK, resp)
		return
	}
	s.log.Info("workflow started", "workflowId", resp.WorkflowID, "runId", runID)
	writeJSON(w, http.StatusAccepted, resp)
}

// startFailure is the answer when Temporal did not durably accept the start:
// 503 with Retry-After, so a sender that retries loses nothing. The cause is
// logged, never sent.
func startFailure(error) *apiError {
	return &apiError{Code: codeTemporalUnavailable, Message: "the notification could not be stored; retry later", retryAfter: 5 * time.Second}
}

func (s *Server) handleHealthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// handleReadyz reports whether Temporal answers, so a load balancer stops
// sending notifications that could only get 503.
func (s *Server) handleReadyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if _, err := s.temporal.CheckHealth(ctx, &client.CheckHealthRequest{}); err != nil {
		s.log.Warn("readiness check failed", "error", err)
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "temporal unreachable"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

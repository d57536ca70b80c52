package ingress

import (
	"context"
	"net/http"
	"sync"
	"time"

	"go.temporal.io/sdk/client"
)

// DefaultReadyTTL is how long a readiness result is reused: a probe every
// second from every load balancer costs one check per TTL, not one each.
const DefaultReadyTTL = 5 * time.Second

// readyCheckTimeout bounds each of readiness's checks.
const readyCheckTimeout = 2 * time.Second

// readiness caches whether the ingress can make a notification durable.
type readiness struct {
	mu     sync.Mutex
	at     time.Time
	ok     bool
	status string
}

// canMakeDurable reports whether a notification would be made durable now:
// Temporal answers, or else the inbox takes a write. A Temporal outage thus
// no longer takes the pods out of the load balancer while the inbox works.
// The result is reused for ReadyTTL; concurrent probes wait for one check.
func (s *Server) canMakeDurable() (bool, string) {
	r := &s.ready
	r.mu.Lock()
	defer r.mu.Unlock()
	now := time.Now()
	if !r.at.IsZero() && now.Sub(r.at) < s.cfg.ReadyTTL {
		return r.ok, r.status
	}
	r.ok, r.status = s.checkDurable()
	r.at = time.Now()
	return r.ok, r.status
}

func (s *Server) checkDurable() (bool, string) {
	ctx, cancel := context.WithTimeout(context.Background(), readyCheckTimeout)
	defer cancel()
	_, temporalErr := s.temporal.CheckHealth(ctx, &client.CheckHealthRequest{})
	if temporalErr == nil {
		return true, "ready"
	}
	if s.cfg.Inbox == nil {
		s.log.Warn("not ready: Temporal does not answer and there is no inbox", "error", temporalErr)
		return false, "temporal unreachable"
	}
	ctx, cancel = context.WithTimeout(context.Background(), readyCheckTimeout)
	defer cancel()
	if err := s.cfg.Inbox.Probe(ctx); err != nil {
		s.log.Warn("not ready: neither Temporal nor the inbox can take a notification", "error", temporalErr, "inboxError", err)
		return false, "temporal and inbox unreachable"
	}
	s.log.Warn("Temporal does not answer; notifications go to the inbox", "error", temporalErr)
	return true, "ready (temporal unreachable: queuing in the inbox)"
}

func (s *Server) handleHealthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// handleReadyz answers 200 while the ingress can make a notification
// durable (Temporal or the inbox), so a load balancer stops sending only
// notifications that could get nothing but 503.
func (s *Server) handleReadyz(w http.ResponseWriter, _ *http.Request) {
	ok, status := s.canMakeDurable()
	code := http.StatusOK
	if !ok {
		code = http.StatusServiceUnavailable
	}
	writeJSON(w, code, map[string]string{"status": status})
}

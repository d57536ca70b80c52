package ingress

import (
	"context"
	"net/http"
	"strings"

	"github.com/gorilla/mux"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Route templates; the access log names routes by these, never by the path.
const (
	routeWebhook      = "/webhooks/wochit"
	routeWebhookToken = "/webhooks/wochit/{token}"
	routeUnmatched    = "(unmatched)"
)

// routes lists the public endpoints: the webhook only.
func (s *Server) routes() http.Handler {
	r := mux.NewRouter()
	// No redirects to "cleaned" paths: they would echo a token-bearing path.
	r.SkipClean(true)
	// A notification passes these checks in this order; the first that
	// fails answers, and the body is read only after all of them passed.
	// handleNotification then decodes and validates it (400), takes a start
	// slot (429) and starts the workflow or queues it (202, 200, 409 or 503).
	notification := chain(http.HandlerFunc(s.handleNotification),
		s.allowSource,  // 403 forbidden_source
		s.limitSource,  // 429 rate_limited (per source)
		s.requireToken, // 401 unauthorized
		requirePOST,    // 405 method_not_allowed
		s.plainBody,    // 415 unsupported_media_type (content-encoded only)
		limitBody,      // 413 payload_too_large
	)
	r.Handle(routeWebhook, s.access(routeWebhook, true, s.traced(routeWebhook, notification)))
	r.Handle(routeWebhookToken, s.access(routeWebhookToken, true, s.traced(routeWebhookToken, notification)))
	r.NotFoundHandler = s.access(routeUnmatched, false, http.HandlerFunc(notFound))
	return r
}

// adminRoutes lists the admin endpoints: probes and metrics.
func (s *Server) adminRoutes() http.Handler {
	r := mux.NewRouter()
	r.Handle("/healthz", s.access("/healthz", false, methods(http.HandlerFunc(s.handleHealthz), http.MethodGet, http.MethodHead)))
	r.Handle("/readyz", s.access("/readyz", false, methods(http.HandlerFunc(s.handleReadyz), http.MethodGet, http.MethodHead)))
	metrics := promhttp.HandlerFor(s.cfg.Registry, promhttp.HandlerOpts{})
	r.Handle("/metrics", s.access("/metrics", false, methods(metrics, http.MethodGet, http.MethodHead)))
	r.NotFoundHandler = s.access(routeUnmatched, false, http.HandlerFunc(notFound))
	return r
}

func notFound(w http.ResponseWriter, _ *http.Request) {
	writeError(w, &apiError{Code: codeNotFound, Message: "no such endpoint"})
}

// traced starts the notification's span (see Config.Tracing). The span sees
// the route template, never the path: the path may hold the sender's token.
func (s *Server) traced(route string, next http.Handler) http.Handler {
	if !s.cfg.Tracing.Enabled() {
		return next
	}
	type originalKey struct{}
	span := s.cfg.Tracing.PublicHandler(http.HandlerFunc(func(w http.ResponseWriter, shown *http.Request) {
		r := shown.Context().Value(originalKey{}).(*http.Request).WithContext(shown.Context())
		noteSpan(r)
		next.ServeHTTP(w, r)
	}), "POST "+route)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		shown := r.Clone(context.WithValue(r.Context(), originalKey{}, r))
		shown.URL.Path, shown.URL.RawPath, shown.URL.RawQuery, shown.RequestURI = route, "", "", route
		span.ServeHTTP(w, shown)
	})
}

// methods answers 405, with Allow, to any method but the given ones.
func methods(h http.Handler, allowed ...string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for _, m := range allowed {
			if r.Method == m {
				h.ServeHTTP(w, r)
				return
			}
		}
		w.Header().Set("Allow", strings.Join(allowed, ", "))
		writeError(w, &apiError{Code: codeMethodNotAllowed, Message: "method not allowed"})
	})
}

package ingress

import (
	"context"
	"log/slog"
	"net/http"
	"net/netip"
	"time"

	"go.opentelemetry.io/otel/trace"
)

// recorder remembers what a handler answered, for the access log and the
// metrics.
type recorder struct {
	http.ResponseWriter
	status int
	code   string      // error code, when the answer was an apiError
	attrs  []slog.Attr // what the handler adds to the access log line
	// answered runs once, when the status is set: before any byte of the
	// answer can reach the client. A rejected request's answer is flushed
	// and its connection closed inside the handler, so whatever counts the
	// answer after the handler returns would race the client reading it.
	answered func(status int, code string, queued bool)
	queued   bool
}

func (r *recorder) WriteHeader(status int) {
	r.setStatus(status)
	r.ResponseWriter.WriteHeader(status)
}

func (r *recorder) Write(b []byte) (int, error) {
	r.setStatus(http.StatusOK)
	return r.ResponseWriter.Write(b)
}

func (r *recorder) setStatus(status int) {
	if r.status != 0 {
		return
	}
	r.status = status
	if r.answered != nil {
		r.answered(status, r.code, r.queued)
	}
}

func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// noteCode records the error code writeError sends, if w is a recorder.
func noteCode(w http.ResponseWriter, code string) {
	if r, ok := w.(*recorder); ok {
		r.code = code
	}
}

// noteQueued records that the answer is for a queued notification.
func noteQueued(w http.ResponseWriter) {
	if r, ok := w.(*recorder); ok {
		r.queued = true
	}
}

// noteAttrs adds attributes to the request's access log line, if w is a
// recorder: one line per notification says everything about it.
func noteAttrs(w http.ResponseWriter, attrs ...slog.Attr) {
	if r, ok := w.(*recorder); ok {
		r.attrs = append(r.attrs, attrs...)
	}
}

type clientIPKey struct{}

// spanKey holds where traced leaves the notification's span, for the access
// log line.
type spanKey struct{}

func noteSpan(r *http.Request) {
	if holder, ok := r.Context().Value(spanKey{}).(*trace.SpanContext); ok {
		*holder = trace.SpanContextFromContext(r.Context())
	}
}

// noteClientIP remembers the client address the source check settled on,
// so the access log reports it.
func noteClientIP(r *http.Request, ip netip.Addr) {
	if holder, ok := r.Context().Value(clientIPKey{}).(*netip.Addr); ok {
		*holder = ip
	}
}

// access logs one line per request and feeds the notification metrics. It
// logs the route *template*, never the request path: the path may carry a
// token (/webhooks/wochit/{token}), and nothing else of the request that
// could hold a secret (query, headers) is logged either.
func (s *Server) access(route string, notification bool, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &recorder{ResponseWriter: w}
		if notification {
			rec.answered = s.metrics.observeRequest
		}
		var client netip.Addr
		var span trace.SpanContext
		r = r.WithContext(context.WithValue(context.WithValue(r.Context(), clientIPKey{}, &client), spanKey{}, &span))
		next.ServeHTTP(rec, r)
		rec.setStatus(http.StatusOK) // a handler that wrote nothing answered 200
		level := slog.LevelDebug     // probes and scrapes would drown the log
		if notification || route == routeUnmatched {
			level = slog.LevelInfo
		}
		attrs := []slog.Attr{
			slog.String("method", r.Method),
			slog.String("route", route),
			slog.Int("status", rec.status),
			slog.Duration("duration", time.Since(start)),
			slog.String("peer", r.RemoteAddr),
		}
		if client.IsValid() {
			attrs = append(attrs, slog.String("client", client.String()))
		}
		if rec.code != "" {
			attrs = append(attrs, slog.String("code", rec.code))
		}
		attrs = append(attrs, rec.attrs...)
		ctx := r.Context()
		if span.IsValid() { // the line joins the notification's trace (LOG_FORMAT=json)
			ctx = trace.ContextWithSpanContext(ctx, span)
		}
		s.log.LogAttrs(ctx, level, "request", attrs...)
	})
}

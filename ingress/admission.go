package ingress

import (
	"mime"
	"net/http"
	"net/netip"
	"slices"
	"strings"

	"github.com/gorilla/mux"
)

// The checks a notification passes before its body is read, as middleware;
// routes.go chains them in order, cheapest and most telling first. A check
// that fails answers the request itself (reject: the body is never read).

type middleware func(http.Handler) http.Handler

// chain wraps h so that a request passes through each middleware in order.
func chain(h http.Handler, checks ...middleware) http.Handler {
	for i := len(checks) - 1; i >= 0; i-- {
		h = checks[i](h)
	}
	return h
}

// allowSource answers 403 unless the client address is allowlisted. It
// settles the client address (see sources.clientIP) for the later checks and
// the access log.
func (s *Server) allowSource(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		client := s.sources.clientIP(r)
		noteClientIP(r, client)
		if !s.sources.allowed(client) {
			reject(w, &apiError{Code: codeForbiddenSource, Message: "this source may not post notifications"})
			return
		}
		next.ServeHTTP(w, r)
	})
}

// limitSource answers 429 when the source spent its token bucket. It runs
// before the token check, so guessing tokens is rate limited too.
func (s *Server) limitSource(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ok, wait := s.limiter.allow(clientIP(r), s.cfg.Now()); !ok {
			s.metrics.rateLimited.WithLabelValues("source").Inc()
			reject(w, &apiError{Code: codeRateLimited, Message: "too many notifications from this source; retry later", retryAfter: wait})
			return
		}
		next.ServeHTTP(w, r)
	})
}

// requireToken answers 401 unless the request presents a valid token (in
// the path or as a Bearer token) when tokens are configured, and whenever
// the path carries one.
func (s *Server) requireToken(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, inPath := mux.Vars(r)["token"]
		if !s.tokens.authorized(r, token, inPath) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="wochit-ingest"`)
			reject(w, &apiError{Code: codeUnauthorized, Message: "a valid token is required"})
			return
		}
		next.ServeHTTP(w, r)
	})
}

// requirePOST answers 405 to any other method. It comes after the
// authentication checks, so an unauthenticated prober learns nothing.
func requirePOST(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			reject(w, &apiError{Code: codeMethodNotAllowed, Message: "use POST"})
			return
		}
		next.ServeHTTP(w, r)
	})
}

// plainBody counts the declared Content-Type (Wochit documents none) and
// lets every one through: the body is judged by decoding it, strictly, so a
// header mismatch never loses a video. It answers 415 only to a
// content-encoded body, which would be judged (and size-limited) compressed.
func (s *Server) plainBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.metrics.contentTypes.WithLabelValues(declaredType(r.Header.Get("Content-Type"))).Inc()
		if ce := r.Header.Get("Content-Encoding"); ce != "" && !strings.EqualFold(ce, "identity") {
			reject(w, &apiError{Code: codeUnsupportedMedia, Message: "the body must not be content-encoded"})
			return
		}
		next.ServeHTTP(w, r)
	})
}

// Values of the "type" label of wochit_ingress_content_types_total: a fixed
// set, so a sender cannot make up label values.
var knownTypes = []string{"application/json", "application/*+json", "text/plain", "application/x-www-form-urlencoded", "application/octet-stream", "none", "other"}

// declaredType is the label for a Content-Type header.
func declaredType(contentType string) string {
	if strings.TrimSpace(contentType) == "" {
		return "none"
	}
	mediaType, _, err := mime.ParseMediaType(contentType)
	switch {
	case err != nil:
		return "other"
	case strings.HasPrefix(mediaType, "application/") && strings.HasSuffix(mediaType, "+json"):
		return "application/*+json"
	case slices.Contains(knownTypes, mediaType):
		return mediaType
	}
	return "other"
}

// limitBody answers 413 to a declared length over MaxBodyBytes before a
// byte is read, and cuts an undeclared (chunked) body at the limit.
func limitBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > MaxBodyBytes {
			reject(w, errTooLarge())
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
		next.ServeHTTP(w, r)
	})
}

// clientIP is the client address allowSource settled on.
func clientIP(r *http.Request) netip.Addr {
	if holder, ok := r.Context().Value(clientIPKey{}).(*netip.Addr); ok {
		return *holder
	}
	return netip.Addr{}
}

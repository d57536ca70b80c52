package ingress

import (
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/gorilla/mux"
)

// admit runs every check that needs no body, cheapest and most telling
// first, and answers the request itself when one fails. A rejected request's
// body is never read.
func (s *Server) admit(w http.ResponseWriter, r *http.Request, now time.Time) bool {
	client := s.sources.clientIP(r)
	noteClientIP(r, client)
	if !s.sources.allowed(client) {
		reject(w, &apiError{Code: codeForbiddenSource, Message: "this source may not post notifications"})
		return false
	}
	// Limited before the token check, so guessing tokens is rate limited too.
	if ok, wait := s.limiter.allow(client, now); !ok {
		s.metrics.rateLimited.WithLabelValues("source").Inc()
		reject(w, &apiError{Code: codeRateLimited, Message: "too many notifications from this source; retry later", retryAfter: wait})
		return false
	}
	token, inPath := mux.Vars(r)["token"]
	if !s.tokens.authorized(r, token, inPath) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="wochit-ingest"`)
		reject(w, &apiError{Code: codeUnauthorized, Message: "a valid token is required"})
		return false
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		reject(w, &apiError{Code: codeMethodNotAllowed, Message: "use POST"})
		return false
	}
	if !isJSON(r.Header.Get("Content-Type")) {
		reject(w, &apiError{Code: codeUnsupportedMedia, Message: "the body must be application/json"})
		return false
	}
	// A compressed body would be judged (and size-limited) compressed.
	if ce := r.Header.Get("Content-Encoding"); ce != "" && !strings.EqualFold(ce, "identity") {
		reject(w, &apiError{Code: codeUnsupportedMedia, Message: "the body must not be content-encoded"})
		return false
	}
	// A declared length over the limit is refused before reading a byte;
	// an undeclared (chunked) one is cut at the limit by MaxBytesReader.
	if r.ContentLength > MaxBodyBytes {
		reject(w, errTooLarge())
		return false
	}
	return true
}

// isJSON accepts application/json and application/<anything>+json, in UTF-8
// (the only encoding JSON allows between systems, RFC 8259).
func isJSON(contentType string) bool {
	mediaType, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		return false
	}
	if mediaType != "application/json" && !(strings.HasPrefix(mediaType, "application/") && strings.HasSuffix(mediaType, "+json")) {
		return false
	}
	charset, ok := params["charset"]
	return !ok || strings.EqualFold(charset, "utf-8")
}

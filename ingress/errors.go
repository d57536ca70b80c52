package ingress

import (
	"encoding/json"
	"math"
	"net/http"
	"strconv"
	"time"
)

// Error codes returned in {"error": "<code>", "message": "..."}. Each code
// maps to exactly one HTTP status, here and nowhere else.
const (
	codeInvalidJSON         = "invalid_json"
	codeMissingField        = "missing_field"
	codeInvalidField        = "invalid_field"
	codePayloadTooLarge     = "payload_too_large"
	codeUnsupportedMedia    = "unsupported_media_type"
	codeMethodNotAllowed    = "method_not_allowed"
	codeNotFound            = "not_found"
	codeUnauthorized        = "unauthorized"
	codeForbiddenSource     = "forbidden_source"
	codeRateLimited         = "rate_limited"
	codeTemporalUnavailable = "temporal_unavailable"
	codeInternal            = "internal"
	codeConflict            = "conflicting_notification"
)

var statusByCode = map[string]int{
	codeInvalidJSON:         http.StatusBadRequest,
	codeMissingField:        http.StatusBadRequest,
	codeInvalidField:        http.StatusBadRequest,
	codePayloadTooLarge:     http.StatusRequestEntityTooLarge,
	codeUnsupportedMedia:    http.StatusUnsupportedMediaType,
	codeMethodNotAllowed:    http.StatusMethodNotAllowed,
	codeNotFound:            http.StatusNotFound,
	codeUnauthorized:        http.StatusUnauthorized,
	codeForbiddenSource:     http.StatusForbidden,
	codeRateLimited:         http.StatusTooManyRequests,
	codeTemporalUnavailable: http.StatusServiceUnavailable,
	codeInternal:            http.StatusInternalServerError,
	codeConflict:            http.StatusConflict,
}

// apiError is an answer for the client. Its message is written for the
// client and must never contain internal details (those are logged instead).
type apiError struct {
	Code       string `json:"error"`
	Message    string `json:"message"`
	Field      string `json:"field,omitempty"`
	retryAfter time.Duration
}

func (e *apiError) Error() string { return e.Code + ": " + e.Message }

func (e *apiError) status() int {
	if s, ok := statusByCode[e.Code]; ok {
		return s
	}
	return http.StatusInternalServerError
}

func writeError(w http.ResponseWriter, e *apiError) {
	noteCode(w, e.Code)
	if e.retryAfter > 0 {
		// Whole seconds, rounded up: "0" would invite an immediate retry.
		w.Header().Set("Retry-After", strconv.Itoa(max(1, int(math.Ceil(e.retryAfter.Seconds())))))
	}
	writeJSON(w, e.status(), e)
}

// reject answers a request whose body was not read, and closes the
// connection afterwards: otherwise the server would read (up to 256 KiB of)
// the unwanted body to keep the connection alive.
func reject(w http.ResponseWriter, e *apiError) {
	w.Header().Set("Connection", "close")
	writeError(w, e)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

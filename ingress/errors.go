package ingress

import (
	"encoding/json"
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
	if e.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(e.retryAfter.Round(time.Second)/time.Second)))
	}
	writeJSON(w, e.status(), e)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

package ingress

import (
	"encoding/json"
	"io"
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
	setRetryAfter(w, e)
	writeJSON(w, e.status(), e)
}

func setRetryAfter(w http.ResponseWriter, e *apiError) {
	if e.retryAfter > 0 {
		// Whole seconds, rounded up: "0" would invite an immediate retry.
		w.Header().Set("Retry-After", strconv.Itoa(max(1, int(math.Ceil(e.retryAfter.Seconds())))))
	}
}

// reject answers a request whose body was not read and closes its
// connection at once. Go's server would otherwise read the unwanted body
// after the answer (up to 256 KiB, to keep the connection), so a client that
// announces a body and never sends it would hold the connection until the
// read timeout.
func reject(w http.ResponseWriter, e *apiError) {
	body := encodeJSON(e)
	w.Header().Set("Connection", "close")
	// The whole answer, with its length, goes out before the connection is
	// taken over (a chunked one would lack its last chunk).
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	noteCode(w, e.Code)
	setRetryAfter(w, e)
	writeBody(w, e.status(), body)
	closeAfterAnswer(w)
}

// Closing a socket that holds unread data resets the connection, and a reset
// can destroy the answer before the client has read it. So after the
// answer and a FIN, what the client still sends is read and dropped for a
// moment, as net/http itself does before closing (rstAvoidanceDelay).
const (
	rejectLinger      = time.Second
	rejectLingerBytes = 256 << 10
)

// closeAfterAnswer takes an HTTP/1 connection over once the answer is
// written: it sends the answer and a FIN at once, then closes after the
// linger. Over HTTP/2 (no hijacking) the server ends the stream itself.
func closeAfterAnswer(w http.ResponseWriter) {
	rc := http.NewResponseController(w)
	if err := rc.Flush(); err != nil {
		return
	}
	conn, buf, err := rc.Hijack()
	if err != nil {
		return
	}
	if err := buf.Flush(); err != nil {
		conn.Close()
		return
	}
	if cw, ok := conn.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
	go func() {
		defer conn.Close()
		_ = conn.SetReadDeadline(time.Now().Add(rejectLinger))
		_, _ = io.Copy(io.Discard, io.LimitReader(conn, rejectLingerBytes))
	}()
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	writeBody(w, status, encodeJSON(v))
}

func writeBody(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// encodeJSON is v as JSON and a newline, as json.Encoder writes it.
func encodeJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		b = []byte(`{"error":"internal","message":"the answer could not be encoded"}`)
	}
	return append(b, '\n')
}

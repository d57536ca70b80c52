package ingress

import (
	"net/http"

	"github.com/gorilla/mux"
)

// routes lists every endpoint of the ingress.
func (s *Server) routes() http.Handler {
	r := mux.NewRouter()
	r.HandleFunc("/webhooks/wochit", s.handleNotification).Methods(http.MethodPost)
	r.HandleFunc("/healthz", s.handleHealthz).Methods(http.MethodGet, http.MethodHead)
	r.HandleFunc("/readyz", s.handleReadyz).Methods(http.MethodGet, http.MethodHead)
	r.MethodNotAllowedHandler = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		writeError(w, &apiError{Code: codeMethodNotAllowed, Message: "method not allowed"})
	})
	r.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		writeError(w, &apiError{Code: codeNotFound, Message: "no such endpoint"})
	})
	return r
}

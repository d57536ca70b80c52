package devstack

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"

	"github.com/wochit-ingest/wochit-ingest/docs"
	"github.com/wochit-ingest/wochit-ingest/internal/redact"
)

// checkContract holds every exchange on the notification endpoint to
// docs/openapi.yaml, the customer's contract: the answer, and the
// notification too when the answer accepts it (2xx). An exchange the
// document does not describe gets a 500 with the reason instead of the
// ingress's answer, and an error in the log, so `dev` and every end-to-end
// test stop at the first drift between the code and the document. (The run a
// 2xx would have reported is started all the same.) The receiver holds
// callbacks to it the same way.
func checkContract(next http.Handler, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || !isNotificationPath(r.URL.Path) {
			next.ServeHTTP(w, r)
			return
		}
		var sent bytes.Buffer
		r.Body = struct {
			io.Reader
			io.Closer
		}{io.TeeReader(r.Body, &sent), r.Body}
		answer := &recordedAnswer{header: http.Header{}, status: http.StatusOK}
		next.ServeHTTP(answer, r)

		err := docs.CheckAnswer(answer.status, answer.header, answer.body.Bytes())
		if err == nil && answer.status/100 == 2 {
			err = docs.CheckNotification(sent.Bytes())
		}
		if err != nil {
			// The notification's URLs may be signed: their query strings stay out.
			msg := redact.Text(err.Error())
			log.Error("the ingress's answer, or the notification it accepted, does not follow docs/openapi.yaml", "status", answer.status, "error", msg)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusInternalServerError)
			_ = json.NewEncoder(w).Encode(map[string]string{"error": "contract_violation", "message": msg})
			return
		}
		for k, v := range answer.header {
			w.Header()[k] = v
		}
		w.WriteHeader(answer.status)
		_, _ = w.Write(answer.body.Bytes())
	})
}

// isNotificationPath: /webhooks/wochit or /webhooks/wochit/{token}.
func isNotificationPath(p string) bool {
	token, ok := strings.CutPrefix(p, "/webhooks/wochit/")
	return p == "/webhooks/wochit" || ok && token != "" && !strings.Contains(token, "/")
}

// recordedAnswer keeps an answer (a few hundred bytes) until it is checked.
type recordedAnswer struct {
	header      http.Header
	status      int
	wroteHeader bool
	body        bytes.Buffer
}

func (a *recordedAnswer) Header() http.Header { return a.header }

func (a *recordedAnswer) WriteHeader(status int) {
	if !a.wroteHeader {
		a.status, a.wroteHeader = status, true
	}
}

func (a *recordedAnswer) Write(b []byte) (int, error) {
	a.wroteHeader = true
	return a.body.Write(b)
}

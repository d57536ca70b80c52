package devstack

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/wochit-ingest/wochit-ingest/contract"
	"github.com/wochit-ingest/wochit-ingest/docs"

	"github.com/wochit-ingest/wochit-ingest/internal/webhook"
)

// Receiver is the callback endpoint `dev` uses when CALLBACK_URL is not set:
// it verifies each delivery's Standard Webhooks signature exactly as a
// customer's backend should, logs it, and keeps it for GET /callbacks.
type Receiver struct {
	secrets []webhook.Secret
	log     *slog.Logger

	mu         sync.Mutex
	deliveries []Delivery
}

// Delivery is one verified callback.
type Delivery struct {
	WebhookID  string         `json:"webhookId"`
	ReceivedAt time.Time      `json:"receivedAt"`
	Event      contract.Event `json:"event"`
}

// NewReceiver returns a receiver that accepts deliveries signed with any of secrets.
func NewReceiver(secrets []webhook.Secret, log *slog.Logger) *Receiver {
	return &Receiver{secrets: secrets, log: log}
}

// Deliveries returns the verified deliveries so far.
func (r *Receiver) Deliveries() []Delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Delivery(nil), r.deliveries...)
}

func (r *Receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	switch req.Method {
	case http.MethodGet:
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(r.Deliveries())
	case http.MethodPost:
		r.receive(w, req)
	default:
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	}
}

func (r *Receiver) receive(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(io.LimitReader(req.Body, 1<<20))
	if err != nil {
		http.Error(w, "unreadable body", http.StatusBadRequest)
		return
	}
	if err := webhook.Verify(req.Header, body, time.Now(), webhook.DefaultTolerance, r.secrets...); err != nil {
		r.log.Warn("callback REJECTED: signature check failed", "error", err, "webhookId", req.Header.Get(webhook.HeaderID))
		http.Error(w, "invalid signature", http.StatusUnauthorized)
		return
	}
	var ev contract.Event
	if err := json.Unmarshal(body, &ev); err != nil {
		http.Error(w, "body is not an event", http.StatusBadRequest)
		return
	}
	// What the customer was promised: a delivery off the document is
	// refused, so the drift shows in `dev` and fails the tests that use it.
	if err := docs.CheckCallback(req.Header, body); err != nil {
		r.log.Error("callback REJECTED: it does not follow docs/openapi.yaml", "error", err, "webhookId", req.Header.Get(webhook.HeaderID))
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	d := Delivery{WebhookID: req.Header.Get(webhook.HeaderID), ReceivedAt: time.Now(), Event: ev}
	r.mu.Lock()
	r.deliveries = append(r.deliveries, d)
	r.mu.Unlock()

	attrs := []any{"type", ev.Type, "webhookId", d.WebhookID, "wochitVideoId", ev.Data.WochitVideoID}
	if ev.Data.Video != nil && ev.Data.Thumbnail != nil {
		attrs = append(attrs, "video", ev.Data.Video.URI, "thumbnail", ev.Data.Thumbnail.URI)
	}
	if ev.Data.Reason != "" {
		attrs = append(attrs, "reason", ev.Data.Reason, "message", ev.Data.Message)
	}
	r.log.Info("callback received, signature verified", attrs...)
	w.WriteHeader(http.StatusNoContent)
}

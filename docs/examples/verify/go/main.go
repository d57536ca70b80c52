// Command verify shows how a backend verifies wochit-ingest's callbacks in Go,
// with the Standard Webhooks reference library, and checks it against the
// test vector:
//
//	go run ./docs/examples/verify/go docs/examples/verify/vector.json
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// tolerance is how far webhook-timestamp may be from your clock: an older
// delivery may be a replay.
const tolerance = 5 * time.Minute

// Verify checks one delivery received at now: a webhook-timestamp within 5
// minutes of now, and a signature made with the secret over the exact bytes
// of the body. (wh.Verify does both with the machine's clock; the
// timestamp is checked here so a test can say what "now" is.)
func Verify(wh *standardwebhooks.Webhook, body []byte, h http.Header, now time.Time) error {
	ts, err := strconv.ParseInt(h.Get("webhook-timestamp"), 10, 64)
	if err != nil {
		return errors.New("webhook-timestamp is not a unix time")
	}
	if skew := now.Sub(time.Unix(ts, 0)); skew > tolerance || skew < -tolerance {
		return fmt.Errorf("webhook-timestamp is %s away from now", skew.Round(time.Second))
	}
	return wh.VerifyIgnoringTimestamp(body, h)
}

// Handler is a callback endpoint: it verifies each delivery, has store keep
// the event under its webhook-id (doing nothing when that id is stored
// already: the same event can arrive more than once) and answers 204. It
// answers 5xx, never 4xx, when the event cannot be stored now: 5xx is retried.
func Handler(wh *standardwebhooks.Webhook, now func() time.Time, store func(id string, event map[string]any) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			http.Error(w, "unreadable body", http.StatusBadRequest)
			return
		}
		if err := Verify(wh, body, r.Header, now()); err != nil {
			http.Error(w, "invalid signature", http.StatusUnauthorized)
			return
		}
		var event map[string]any // {"type": "video.stored" or "video.failed", "timestamp": ..., "data": {...}}
		if err := json.Unmarshal(body, &event); err != nil {
			http.Error(w, "not JSON", http.StatusBadRequest)
			return
		}
		if err := store(r.Header.Get("webhook-id"), event); err != nil {
			http.Error(w, "try again later", http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
}

// vector is docs/examples/verify/vector.json.
type vector struct {
	Secret, OtherSecret, ID, Timestamp, Signature, Body string
}

func main() {
	if len(os.Args) != 2 {
		log.Fatal("usage: verify vector.json")
	}
	raw, err := os.ReadFile(os.Args[1])
	if err != nil {
		log.Fatal(err)
	}
	var v vector
	if err := json.Unmarshal(raw, &v); err != nil {
		log.Fatal(err)
	}
	wh, err := standardwebhooks.NewWebhook(v.Secret)
	if err != nil {
		log.Fatal(err)
	}
	ts, err := strconv.ParseInt(v.Timestamp, 10, 64)
	if err != nil {
		log.Fatal(err)
	}
	sent := time.Unix(ts, 0)

	failed := false
	check := func(what string, body string, now time.Time, wantStatus int) {
		req := httptest.NewRequest(http.MethodPost, "/hooks/wochit", strings.NewReader(body))
		req.Header.Set("webhook-id", v.ID)
		req.Header.Set("webhook-timestamp", v.Timestamp)
		req.Header.Set("webhook-signature", v.Signature)
		rec := httptest.NewRecorder()
		stored := map[string]bool{}
		Handler(wh, func() time.Time { return now }, func(id string, _ map[string]any) error {
			stored[id] = true
			return nil
		}).ServeHTTP(rec, req)
		result := "ok"
		if rec.Code != wantStatus {
			result, failed = fmt.Sprintf("FAILED: answered %d, want %d", rec.Code, wantStatus), true
		}
		fmt.Printf("  %-52s %s\n", what, result)
	}
	check("the vector verifies", v.Body, sent.Add(2*time.Second), http.StatusNoContent)
	check("a tampered body is rejected", strings.Replace(v.Body, `"size":50331648`, `"size":50331649`, 1), sent, http.StatusUnauthorized)
	check("a stale timestamp (6 minutes old) is rejected", v.Body, sent.Add(6*time.Minute), http.StatusUnauthorized)
	if failed {
		os.Exit(1)
	}
}

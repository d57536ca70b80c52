// Package devstacktest is the one helper of the end-to-end tests that run
// the system in their own process: the commands' process tests, devstack's
// tests, worker's outage test and the end-to-end benchmark start a dev stack
// with it (free loopback ports, a fresh data directory, callbacks signed with
// Secret) and receive callbacks the way a customer's backend does, verified
// with the reference Standard Webhooks library and against
// docs/openapi.yaml. EndToEnd is every package's -short skip of the tests
// that start a Temporal server.
//
// The topology tier (topology/) runs the real binary as separate processes
// and talks to it only as a customer would; it has its own harness.
package devstacktest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/wochit-ingest/wochit-ingest/contract"
	"github.com/wochit-ingest/wochit-ingest/devstack"
	"github.com/wochit-ingest/wochit-ingest/docs"
	"github.com/wochit-ingest/wochit-ingest/internal/webhook"
)

// Secret signs a test stack's callbacks; Receiver verifies with it.
const Secret = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"

// EndToEnd skips a test that starts a Temporal server when the tests run
// with -short: `go test -short ./...` is the fast tier (unit and replay
// tests), plain `go test ./...` runs everything.
func EndToEnd(tb testing.TB) {
	tb.Helper()
	if testing.Short() {
		tb.Skip("end-to-end: starts a Temporal server; run without -short")
	}
}

// Start starts a dev stack on free loopback ports in a fresh data
// directory, its callbacks signed with Secret and its logs shown only if
// the test fails; tune changes those options. The stack is stopped when the
// test ends (stopping it before is fine).
func Start(tb testing.TB, tune ...func(*devstack.Options)) *devstack.Stack {
	tb.Helper()
	secrets, err := webhook.ParseSecrets(Secret)
	if err != nil {
		tb.Fatal(err)
	}
	opts := devstack.Options{
		DataDir:      tb.TempDir(),
		TemporalAddr: "127.0.0.1:0", GCSAddr: "127.0.0.1:0", IngressAddr: "127.0.0.1:0", DevAddr: "127.0.0.1:0",
		CallbackSecrets: secrets,
		Logger:          Logger(tb),
	}
	for _, f := range tune {
		f(&opts)
	}
	stack, err := devstack.Start(context.Background(), opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { stack.Stop(context.Background()) })
	return stack
}

// Quiet discards the stack's logs (the Temporal server's are many at debug
// level), for tests that run long or measure.
func Quiet(o *devstack.Options) { o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil)) }

// Logger collects logs (debug level) and prints them only if the test
// fails.
func Logger(tb testing.TB) *slog.Logger {
	var mu sync.Mutex
	var buf bytes.Buffer
	tb.Cleanup(func() {
		if tb.Failed() {
			mu.Lock()
			defer mu.Unlock()
			os.Stderr.Write(buf.Bytes())
		}
	})
	return slog.New(slog.NewTextHandler(lockedWriter{&mu, &buf}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// WaitFor polls cond until it holds or the timeout passes.
func WaitFor(tb testing.TB, timeout time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Receiver is the customer's backend: it verifies every delivery with the
// reference Standard Webhooks library (not with our own code) and checks it
// against the customer's contract (docs/openapi.yaml).
type Receiver struct {
	// URL is where to send callbacks.
	URL string

	tb         testing.TB
	mu         sync.Mutex
	deliveries []Delivery
	arrived    chan struct{}
	taken      int
}

// Delivery is one verified callback.
type Delivery struct {
	ID    string // webhook-id
	Body  []byte
	Event contract.Event
}

// NewReceiver starts a receiver of callbacks signed with Secret, stopped
// when the test ends.
func NewReceiver(tb testing.TB) *Receiver {
	wh, err := standardwebhooks.NewWebhook(Secret)
	if err != nil {
		tb.Fatal(err)
	}
	r := &Receiver{tb: tb, arrived: make(chan struct{}, 100)}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, ev, ok := VerifiedEvent(tb, wh, w, req)
		if !ok {
			return
		}
		r.mu.Lock()
		r.deliveries = append(r.deliveries, Delivery{ID: req.Header.Get("webhook-id"), Body: body, Event: ev})
		r.mu.Unlock()
		r.arrived <- struct{}{}
		w.WriteHeader(http.StatusNoContent)
	}))
	tb.Cleanup(srv.Close)
	r.URL = srv.URL + "/hooks"
	return r
}

// VerifiedEvent reads a delivery and checks it with the reference Standard
// Webhooks library, answering 401 (and failing the test) when it does not
// verify, and against the customer's contract.
func VerifiedEvent(tb testing.TB, wh *standardwebhooks.Webhook, w http.ResponseWriter, req *http.Request) ([]byte, contract.Event, bool) {
	body, _ := io.ReadAll(req.Body)
	if err := wh.Verify(body, req.Header); err != nil {
		tb.Errorf("callback failed verification by the reference library: %v", err)
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return nil, contract.Event{}, false
	}
	var ev contract.Event
	if err := json.Unmarshal(body, &ev); err != nil {
		tb.Errorf("callback body is not an event: %s", body)
	}
	if err := docs.CheckCallback(req.Header, body); err != nil {
		tb.Errorf("callback does not follow the customer's contract: %v", err)
	}
	return body, ev, true
}

// Next waits for the next delivery (in the order they arrived), failing
// the test after timeout.
func (r *Receiver) Next(timeout time.Duration) Delivery {
	r.tb.Helper()
	select {
	case <-r.arrived:
	case <-time.After(timeout):
		r.tb.Fatalf("no callback within %s", timeout)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	d := r.deliveries[r.taken]
	r.taken++
	return d
}

// All is every delivery so far.
func (r *Receiver) All() []Delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Delivery(nil), r.deliveries...)
}

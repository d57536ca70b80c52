package ingress_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"cloud.google.com/go/storage"
	"go.temporal.io/sdk/client"
	"google.golang.org/api/iterator"

	"github.com/wochit-ingest/wochit-ingest/devstack/gcsemu/gcsemutest"
	"github.com/wochit-ingest/wochit-ingest/inbox"
	"github.com/wochit-ingest/wochit-ingest/ingress"
	"github.com/wochit-ingest/wochit-ingest/internal/payloadcodec"
)

const inboxBucket = "ingress-inbox-test"

// outage is an ingress whose Temporal address refuses connections, with an
// inbox on a real GCS emulator behind a handler that counts requests (and
// can be made to fail, as an unreachable GCS).
type outage struct {
	url, admin string
	gcs        *storage.Client
	requests   atomic.Int64 // requests that reached the emulator
	gcsDown    atomic.Bool
}

func newOutage(t *testing.T, cfg ingress.Config) *outage {
	t.Helper()
	o := &outage{}
	o.gcs, _ = gcsemutest.Start(t, inboxBucket, func(emu http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if o.gcsDown.Load() {
				http.Error(w, "down", http.StatusServiceUnavailable)
				return
			}
			o.requests.Add(1)
			emu.ServeHTTP(w, r)
		})
	})

	refused, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused.Close()
	c, err := client.NewLazyClient(client.Options{HostPort: refused.Addr().String()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	ring, err := payloadcodec.ParseKeyring(payloadcodec.GenerateKey())
	if err != nil {
		t.Fatal(err)
	}
	cfg.AnySource = true
	cfg.DataConverter = payloadcodec.DataConverter(ring)
	cfg.Inbox = inbox.New(o.gcs, inboxBucket, "videos/.inbox/", cfg.DataConverter)
	cfg.InboxTimeout = 2 * time.Second
	s := ingress.NewServer(cfg, c)
	pub := httptest.NewServer(s)
	t.Cleanup(pub.Close)
	admin := httptest.NewServer(s.Admin())
	t.Cleanup(admin.Close)
	o.url, o.admin = pub.URL, admin.URL
	return o
}

func (o *outage) objects(t *testing.T) []string {
	t.Helper()
	var out []string
	it := o.gcs.Bucket(inboxBucket).Objects(context.Background(), &storage.Query{Prefix: "videos/.inbox/"})
	for {
		a, err := it.Next()
		if errors.Is(err, iterator.Done) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(a.Name, "/probe/") {
			out = append(out, a.Name)
		}
	}
}

// postAny posts body and decodes any JSON object answer.
func postAny(t *testing.T, url string, header http.Header, body []byte) (int, http.Header, map[string]any) {
	t.Helper()
	r, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	r.Header = header
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("answer %d is not a JSON object: %q", resp.StatusCode, raw)
	}
	return resp.StatusCode, resp.Header, m
}

// With Temporal refusing connections, a notification is made durable in the
// inbox and answered 202 {"workflowId", "queued": true}; a repeat is one
// object; the ingress stays ready; the outcome is counted as queued.
//
// Mutation: making temporalUnavailable answer false (no diversion) turns
// the answer into 503 ("answered 503").
func TestTemporalDownQueuesInTheInbox(t *testing.T) {
	o := newOutage(t, ingress.Config{})
	id := uniqueID(t)
	body := jsonBody(t, notification(id))
	for range 2 {
		status, header, got := postAny(t, o.url+"/webhooks/wochit", jsonHeader(), body)
		if status != http.StatusAccepted || got["queued"] != true || got["workflowId"] != "wochit-video-"+id {
			t.Fatalf("answered %d %v, want 202 with queued and the workflow id", status, got)
		}
		if _, ok := got["runId"]; ok || header.Get("Retry-After") != "" {
			t.Errorf("a queued answer has a runId or Retry-After: %v %v", got, header)
		}
	}
	if objs := o.objects(t); len(objs) != 1 || !strings.Contains(objs[0], id) {
		t.Errorf("inbox holds %v, want one object for %s", objs, id)
	}
	if status, _, got := getAny(t, o.admin+"/readyz"); status != http.StatusOK {
		t.Errorf("/readyz = %d %v during the Temporal outage with a writable inbox, want 200", status, got)
	}
	m := scrape(t, o.admin)
	if v := m[`wochit_ingress_requests_total{code="none",outcome="queued"}`]; v != 2 {
		t.Errorf("queued answers counted %v, want 2", v)
	}
}

// With GCS unreachable as well, nothing is durable: 503 with Retry-After,
// and the ingress is not ready.
//
// Mutation: answering 202 queued whatever the inbox write returned fails
// "answered 202".
func TestTemporalAndInboxDownAnswers503(t *testing.T) {
	o := newOutage(t, ingress.Config{ReadyTTL: time.Nanosecond})
	o.gcsDown.Store(true)
	status, header, got := postAny(t, o.url+"/webhooks/wochit", jsonHeader(), jsonBody(t, notification(uniqueID(t))))
	if status != http.StatusServiceUnavailable || header.Get("Retry-After") == "" || got["error"] != "temporal_unavailable" {
		t.Fatalf("answered %d %v (Retry-After %q), want 503 temporal_unavailable with Retry-After", status, got, header.Get("Retry-After"))
	}
	if status, _, got := getAny(t, o.admin+"/readyz"); status != http.StatusServiceUnavailable {
		t.Errorf("/readyz = %d %v with Temporal and GCS down, want 503", status, got)
	}
	o.gcsDown.Store(false)
	if status, _, got := getAny(t, o.admin+"/readyz"); status != http.StatusOK {
		t.Errorf("/readyz = %d %v once GCS is back, want 200", status, got)
	}
}

// Readiness is cached: a burst of probes costs one check.
//
// Mutation: ignoring ReadyTTL in canMakeDurable (checking on every probe)
// fails "20 probes made 20 inbox writes".
func TestReadinessIsCached(t *testing.T) {
	o := newOutage(t, ingress.Config{ReadyTTL: time.Hour})
	before := o.requests.Load()
	for range 20 {
		if status, _, got := getAny(t, o.admin+"/readyz"); status != http.StatusOK {
			t.Fatalf("/readyz = %d %v", status, got)
		}
	}
	if n := o.requests.Load() - before; n != 1 {
		t.Errorf("20 probes made %d inbox writes, want 1", n)
	}
}

// Wochit documents no Content-Type: whatever it declares, a body that
// decodes as a notification is taken, and the declared types are counted
// from a fixed set of labels.
//
// Mutation: restoring the application/json check (415 otherwise) fails
// "declared \"text/plain\": answered 415".
func TestAnyContentTypeIsAccepted(t *testing.T) {
	o := newOutage(t, ingress.Config{})
	for _, ct := range []string{"", "text/plain", "application/json; charset=utf-8", "application/x-www-form-urlencoded",
		"application/json; charset=iso-8859-1", "application/vnd.wochit+json", "image/gif", "nonsense;;"} {
		h := http.Header{}
		if ct != "" {
			h.Set("Content-Type", ct)
		}
		if status, _, got := postAny(t, o.url+"/webhooks/wochit", h, jsonBody(t, notification(uniqueID(t)))); status != http.StatusAccepted {
			t.Errorf("declared %q: answered %d %v, want 202", ct, status, got)
		}
	}
	m := scrape(t, o.admin)
	for label, want := range map[string]float64{"none": 1, "text/plain": 1, "application/json": 2, "application/x-www-form-urlencoded": 1,
		"application/*+json": 1, "other": 2} {
		if got := m[`wochit_ingress_content_types_total{type="`+label+`"}`]; got != want {
			t.Errorf("content type %s counted %v, want %v", label, got, want)
		}
	}
}

func getAny(t *testing.T, url string) (int, http.Header, map[string]any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	return resp.StatusCode, resp.Header, m
}

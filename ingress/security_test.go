package ingress_test

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"github.com/wochit-ingest/wochit-ingest/ingress"
)

func prefixes(s ...string) []netip.Prefix {
	var out []netip.Prefix
	for _, p := range s {
		out = append(out, netip.MustParsePrefix(p))
	}
	return out
}

// The test client connects from 127.0.0.1; as a trusted proxy, that address
// stands for a load balancer.
func TestAllowlistBehindTrustedProxies(t *testing.T) {
	const wochit = "54.81.68.237"
	behindLB := newFixture(t, temporalServer(t), ingress.Config{AllowedSources: ingress.WochitSources, TrustedProxies: prefixes("127.0.0.0/8")})
	direct := newFixture(t, temporalServer(t), ingress.Config{AllowedSources: ingress.WochitSources})
	tests := []struct {
		name string
		f    fixture
		xff  string
		want int
	}{
		{"behind the proxy, from Wochit", behindLB, wochit, 202},
		{"behind the proxy, Wochit forged on the left", behindLB, wochit + ", 198.51.100.1", 403},
		{"behind the proxy, forged entries left of Wochit", behindLB, "198.51.100.1, " + wochit, 202},
		{"behind the proxy, no header: the proxy itself", behindLB, "", 403},
		{"no trusted proxy: the header is ignored", direct, wochit, 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := uniqueID(t)
			h := jsonHeader()
			if tt.xff != "" {
				h.Set("X-Forwarded-For", tt.xff)
			}
			got := do(t, tt.f.url, request{path: "/webhooks/wochit", header: h, body: jsonBody(t, notification(id))})
			if got.status != tt.want {
				t.Fatalf("answer = %d %v, want %d", got.status, got.body, tt.want)
			}
			if tt.want == 403 {
				if got.body["error"] != "forbidden_source" {
					t.Fatalf("error = %q, want forbidden_source", got.body["error"])
				}
				assertNotStarted(t, tt.f.temporal, id)
			}
		})
	}
}

func TestTokenRotation(t *testing.T) {
	post := func(f fixture, path string, h http.Header) int {
		return do(t, f.url, request{path: path, header: h, body: jsonBody(t, notification(uniqueID(t)))}).status
	}
	bearer := func(tok string) http.Header { return jsonHeader("Authorization", "Bearer "+tok) }

	// During the rotation both tokens work, in the path and as Bearer.
	both := newFixture(t, temporalServer(t), ingress.Config{Tokens: []ingress.Token{tokenA, tokenB}})
	for _, tok := range []string{tokenA, tokenB} {
		if got := post(both, "/webhooks/wochit/"+tok, jsonHeader()); got != 202 {
			t.Errorf("path token %s… during rotation: %d, want 202", tok[:5], got)
		}
		if got := post(both, "/webhooks/wochit", bearer(tok)); got != 202 {
			t.Errorf("bearer token %s… during rotation: %d, want 202", tok[:5], got)
		}
	}
	// After it, the removed token is refused and the kept one works.
	after := newFixture(t, temporalServer(t), ingress.Config{Tokens: []ingress.Token{tokenB}})
	if got := post(after, "/webhooks/wochit/"+tokenA, jsonHeader()); got != 401 {
		t.Errorf("removed token in the path: %d, want 401", got)
	}
	if got := post(after, "/webhooks/wochit", bearer(tokenA)); got != 401 {
		t.Errorf("removed token as Bearer: %d, want 401", got)
	}
	if got := post(after, "/webhooks/wochit/"+tokenB, jsonHeader()); got != 202 {
		t.Errorf("kept token: %d, want 202", got)
	}
	// Without tokens, none is needed, and the token route accepts nothing.
	none := newFixture(t, temporalServer(t), ingress.Config{})
	if got := post(none, "/webhooks/wochit", jsonHeader()); got != 202 {
		t.Errorf("no tokens configured, bare route: %d, want 202", got)
	}
	if got := post(none, "/webhooks/wochit/anything-at-all-0123", jsonHeader()); got != 401 {
		t.Errorf("no tokens configured, token route: %d, want 401", got)
	}
}

// syncBuffer is a log sink safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestTokensNeverLogged(t *testing.T) {
	const wrong = "wrong-token-5f0e1d2c3b4a"
	var logs syncBuffer
	log := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	c := temporalServer(t).GetDefaultClient()
	srv := httptest.NewServer(ingress.NewServer(ingress.Config{Namespace: temporalServer(t).GetDefaultNamespace(), AnySource: true, Tokens: []ingress.Token{tokenA, tokenB}, Logger: log}, c))
	t.Cleanup(srv.Close)

	var answers []string
	send := func(method, path string, h http.Header, body []byte) {
		a := do(t, srv.URL, request{method: method, path: path, header: h, body: body})
		answers = append(answers, strings.Join([]string{a.body["error"], a.body["message"], a.body["field"]}, " "))
	}
	valid := func() []byte { return jsonBody(t, notification(uniqueID(t))) }
	send("POST", "/webhooks/wochit/"+tokenA, jsonHeader(), valid())
	send("POST", "/webhooks/wochit/"+wrong, jsonHeader(), valid())
	send("POST", "/webhooks/wochit", jsonHeader("Authorization", "Bearer "+tokenB), valid())
	send("POST", "/webhooks/wochit", jsonHeader("Authorization", "Bearer "+wrong), valid())
	send("GET", "/webhooks/wochit/"+tokenA, nil, nil)
	send("POST", "/webhooks/wochit/"+tokenA, jsonHeader(), []byte(`{"wochitVideoId": 1}`))
	send("POST", "/webhooks/wochit/"+tokenA, jsonHeader(), jsonBody(t, notification(tokenA+"/x"))) // echoing the value would leak it
	send("POST", "/webhooks/wochit/"+tokenA+"/", jsonHeader(), valid())
	send("POST", "/webhooks/wochit/"+tokenA+"/extra", jsonHeader(), valid())
	send("POST", "/webhooks//wochit/"+tokenA, jsonHeader(), valid())

	out := logs.String()
	if !strings.Contains(out, `"route":"/webhooks/wochit/{token}"`) || !strings.Contains(out, `"status":401`) {
		t.Fatalf("the requests were not logged as expected (route template, status):\n%s", out)
	}
	for _, secret := range []string{tokenA, tokenB, wrong} {
		if strings.Contains(out, secret) {
			t.Errorf("the log contains the token %q:\n%s", secret, out)
		}
		for _, a := range answers {
			if strings.Contains(a, secret) {
				t.Errorf("an answer contains the token %q: %s", secret, a)
			}
		}
	}
}

// The zero Config is production's closed door, not an open one: only
// Wochit's addresses may post, at the default per-source rate.
func TestZeroConfigIsClosed(t *testing.T) {
	c := temporalServer(t).GetDefaultClient()
	zero := httptest.NewServer(ingress.NewServer(ingress.Config{Namespace: temporalServer(t).GetDefaultNamespace()}, c))
	defer zero.Close()
	id := uniqueID(t)
	if got := do(t, zero.URL, request{path: "/webhooks/wochit", header: jsonHeader(), body: jsonBody(t, notification(id))}); got.status != http.StatusForbidden {
		t.Fatalf("the zero Config answered %d %v to loopback, want 403", got.status, got.body)
	}
	assertNotStarted(t, c, id)

	// With this machine allowed, the default burst still holds: the limit
	// is checked before the method, so GETs spend it without starting runs.
	local := httptest.NewServer(ingress.NewServer(ingress.Config{
		Namespace: temporalServer(t).GetDefaultNamespace(), AllowedSources: prefixes("127.0.0.0/8", "::1/128"),
	}, c))
	defer local.Close()
	// (The bucket refills at DefaultRateLimit meanwhile, so the 429 comes a
	// little after the burst.)
	for i := 1; ; i++ {
		got := do(t, local.URL, request{method: http.MethodGet, path: "/webhooks/wochit"})
		switch {
		case got.status == http.StatusTooManyRequests && i > ingress.DefaultRateBurst:
			return
		case got.status != http.StatusMethodNotAllowed:
			t.Fatalf("request %d answered %d, want 405 within the burst", i, got.status)
		case i > 3*ingress.DefaultRateBurst:
			t.Fatalf("%d requests and no 429: the default rate limit is off", i)
		}
	}
}

package ingress

// Tests that kill mutants .ci/mutation found alive or could not reach
// (BENCHMARKS.md, "Mutation testing"). The door's HTTP tests elsewhere need a
// Temporal server, so `go test -short` (the tier each mutant runs) had no test
// of the admission checks at all: with the middleware chain emptied
// (admission.go `i >= 0` → `i < 0`) it still passed. These run the real
// server on loopback with no Temporal client: every request here is answered
// before a workflow would start, and a request that got that far would panic
// on the nil client and fail the test.

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/wochit-ingest/wochit-ingest/internal/safehttp"
)

// clock is a settable Config.Now.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// door is the ingress on loopback without Temporal.
func door(t *testing.T, cfg Config) string {
	t.Helper()
	srv := httptest.NewServer(NewServer(cfg, nil))
	t.Cleanup(srv.Close)
	return srv.URL
}

type doorAnswer struct {
	status     int
	code       string
	retryAfter string
	header     http.Header
}

// post sends body to url with the given headers (Content-Type JSON unless
// set) and returns the answer's status and error code.
func post(t *testing.T, method, url string, body []byte, headers ...string) doorAnswer {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var e struct {
		Error string `json:"error"`
	}
	_ = json.Unmarshal(raw, &e)
	return doorAnswer{status: resp.StatusCode, code: e.Error, retryAfter: resp.Header.Get("Retry-After"), header: resp.Header}
}

// passed is the answer to a body that got through the door: `{}` misses
// every field.
func passed(a doorAnswer) bool {
	return a.status == http.StatusBadRequest && a.code == codeMissingField
}

var emptyObject = []byte(`{}`)

// The zero Config lets only Wochit's addresses post: loopback is refused
// with 403 before anything else is looked at; AnySource opens the door.
func TestDoorSourceAllowlist(t *testing.T) {
	if a := post(t, http.MethodPost, door(t, Config{})+routeWebhook, emptyObject); a.status != http.StatusForbidden || a.code != codeForbiddenSource {
		t.Fatalf("loopback under the zero Config: %d %s, want 403 %s", a.status, a.code, codeForbiddenSource)
	}
	loopback := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	if a := post(t, http.MethodPost, door(t, Config{AllowedSources: loopback})+routeWebhook, emptyObject); !passed(a) {
		t.Fatalf("loopback allowlisted: %d %s, want it through the door", a.status, a.code)
	}
	if a := post(t, http.MethodPost, door(t, Config{AnySource: true})+routeWebhook, emptyObject); !passed(a) {
		t.Fatalf("AnySource: %d %s, want it through the door", a.status, a.code)
	}
}

// Tokens: required on the bare route only when configured, always valid in
// the path, as a Bearer token otherwise.
func TestDoorTokens(t *testing.T) {
	const tok = "s3cret-token"
	with := door(t, Config{AnySource: true, Tokens: []Token{tok}})
	without := door(t, Config{AnySource: true})
	for _, tt := range []struct {
		name, url string
		headers   []string
		pass      bool
	}{
		{"no token required, none sent", without + routeWebhook, nil, true},
		{"no token required, one in the path", without + routeWebhook + "/anything", nil, false},
		{"required, none sent", with + routeWebhook, nil, false},
		{"required, Bearer", with + routeWebhook, []string{"Authorization", "Bearer " + tok}, true},
		{"required, bearer in lower case", with + routeWebhook, []string{"Authorization", "bearer " + tok}, true},
		{"required, wrong Bearer", with + routeWebhook, []string{"Authorization", "Bearer " + tok + "x"}, false},
		{"required, empty Bearer", with + routeWebhook, []string{"Authorization", "Bearer "}, false},
		{"required, Basic", with + routeWebhook, []string{"Authorization", "Basic " + tok}, false},
		{"required, in the path", with + routeWebhook + "/" + tok, nil, true},
		{"required, wrong one in the path", with + routeWebhook + "/x" + tok, nil, false},
	} {
		a := post(t, http.MethodPost, tt.url, emptyObject, tt.headers...)
		switch {
		case tt.pass && !passed(a):
			t.Errorf("%s: %d %s, want it through the door", tt.name, a.status, a.code)
		case !tt.pass && (a.status != http.StatusUnauthorized || a.code != codeUnauthorized || a.header.Get("WWW-Authenticate") == ""):
			t.Errorf("%s: %d %s (WWW-Authenticate %q), want 401 %s with a challenge", tt.name, a.status, a.code, a.header.Get("WWW-Authenticate"), codeUnauthorized)
		}
	}
}

// Per-source rate limits: the configured burst and rate, the defaults
// (50/s, bursts of 100) when unset, applied before the token check.
func TestDoorRateLimits(t *testing.T) {
	c := &clock{now: time.Unix(1_700_000_000, 0)}
	url := door(t, Config{AnySource: true, RateLimit: 1, RateBurst: 2, Now: c.Now, Tokens: []Token{"t"}})
	for i := range 2 {
		if a := post(t, http.MethodPost, url+routeWebhook, emptyObject); a.status != http.StatusUnauthorized {
			t.Fatalf("request %d within the burst: %d %s, want 401 (the limit comes first, then the token)", i+1, a.status, a.code)
		}
	}
	a := post(t, http.MethodPost, url+routeWebhook, emptyObject)
	if a.status != http.StatusTooManyRequests || a.code != codeRateLimited || a.retryAfter != "1" {
		t.Fatalf("request 3 of a burst of 2: %d %s Retry-After %q, want 429 %s Retry-After 1", a.status, a.code, a.retryAfter, codeRateLimited)
	}
	c.add(100 * time.Millisecond) // 1/s: nothing back yet
	if a := post(t, http.MethodPost, url+routeWebhook, emptyObject); a.status != http.StatusTooManyRequests {
		t.Fatalf("100 ms later at 1/s: %d, want 429", a.status)
	}
	c.add(900 * time.Millisecond)
	if a := post(t, http.MethodPost, url+routeWebhook, emptyObject); a.status != http.StatusUnauthorized {
		t.Fatalf("a second later at 1/s: %d %s, want the token back", a.status, a.code)
	}

	// The defaults.
	c2 := &clock{now: time.Unix(1_700_000_000, 0)}
	url = door(t, Config{AnySource: true, Now: c2.Now})
	for i := range DefaultRateBurst {
		if a := post(t, http.MethodPost, url+routeWebhook, emptyObject); !passed(a) {
			t.Fatalf("request %d within the default burst of %d: %d %s", i+1, DefaultRateBurst, a.status, a.code)
		}
	}
	if a := post(t, http.MethodPost, url+routeWebhook, emptyObject); a.status != http.StatusTooManyRequests {
		t.Fatalf("request %d: %d, want 429", DefaultRateBurst+1, a.status)
	}
	c2.add(time.Second * 3 / 2 / DefaultRateLimit) // a token and a half back at the default rate
	if a := post(t, http.MethodPost, url+routeWebhook, emptyObject); !passed(a) {
		t.Fatalf("1.5/%d s later: %d %s, want a token back", DefaultRateLimit, a.status, a.code)
	}
}

// Other methods are refused with 405 (after the source and token checks),
// and the body must be uncompressed; any declared Content-Type goes through
// (issue 20: the body is judged by decoding it).
func TestDoorMethodAndMediaType(t *testing.T) {
	url := door(t, Config{AnySource: true}) + routeWebhook
	if a := post(t, http.MethodPut, url, emptyObject); a.status != http.StatusMethodNotAllowed || a.header.Get("Allow") != http.MethodPost {
		t.Fatalf("PUT: %d (Allow %q), want 405 with Allow: POST", a.status, a.header.Get("Allow"))
	}
	if a := post(t, http.MethodPut, door(t, Config{AnySource: true, Tokens: []Token{"t"}})+routeWebhook, emptyObject); a.status != http.StatusUnauthorized {
		t.Fatalf("PUT without the token: %d, want 401 before the method is judged", a.status)
	}
	for _, tt := range []struct {
		headers []string
		pass    bool
	}{
		{[]string{"Content-Type", "application/json"}, true},
		{[]string{"Content-Type", "application/json; charset=utf-8"}, true},
		{[]string{"Content-Type", "application/json; charset=UTF-8"}, true},
		{[]string{"Content-Type", "application/vnd.wochit+json"}, true},
		{[]string{"Content-Type", "application/json; charset=iso-8859-1"}, true},
		{[]string{"Content-Type", "text/json"}, true},
		{[]string{"Content-Type", "text/plain+json"}, true},
		{[]string{"Content-Type", "application/jsonx"}, true},
		{[]string{"Content-Encoding", "identity"}, true},
		{[]string{"Content-Encoding", "IDENTITY"}, true},
		{[]string{"Content-Encoding", "gzip"}, false},
	} {
		a := post(t, http.MethodPost, url, emptyObject, tt.headers...)
		if tt.pass != passed(a) || !tt.pass && (a.status != http.StatusUnsupportedMediaType || a.code != codeUnsupportedMedia) {
			t.Errorf("%v: %d %s, want through the door %v (or else 415)", tt.headers, a.status, a.code, tt.pass)
		}
	}
}

// A body of exactly MaxBodyBytes is read; one that declares a byte more is
// refused.
func TestDoorBodyLimit(t *testing.T) {
	url := door(t, Config{AnySource: true}) + routeWebhook
	exact := append([]byte(`{"x":"`), bytes.Repeat([]byte("a"), MaxBodyBytes-8)...)
	exact = append(exact, `"}`...)
	if len(exact) != MaxBodyBytes {
		t.Fatalf("body of %d bytes", len(exact))
	}
	if a := post(t, http.MethodPost, url, exact); !passed(a) {
		t.Fatalf("a body of exactly %d bytes: %d %s, want it read (400 %s)", MaxBodyBytes, a.status, a.code, codeMissingField)
	}
	over := append(bytes.Clone(exact[:len(exact)-2]), `a"}`...)
	if a := post(t, http.MethodPost, url, over); a.status != http.StatusRequestEntityTooLarge {
		t.Fatalf("a declared body of %d bytes: %d %s, want 413", len(over), a.status, a.code)
	}
}

// An undeclared (chunked) body over the limit is cut while it is read and
// answered 413 on a connection that is then closed: the rest of the body is
// never read. Mutant in handleNotification: `apiErr.Code ==
// codePayloadTooLarge` → `!=` (a plain answer, the connection kept).
func TestDoorCutsAChunkedBodyAtTheLimit(t *testing.T) {
	url := door(t, Config{AnySource: true}) + routeWebhook
	over := append([]byte(`{"x":"`), bytes.Repeat([]byte("a"), MaxBodyBytes)...)
	req, _ := http.NewRequest(http.MethodPost, url, io.MultiReader(bytes.NewReader(over)))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	// A MultiReader's length is unknown: the client sends it chunked.
	if resp.StatusCode != http.StatusRequestEntityTooLarge || !resp.Close {
		t.Fatalf("a chunked body of %d bytes: %d, connection closed %v; want 413 and the connection closed",
			len(over), resp.StatusCode, resp.Close)
	}
}

// NewServer's defaults for what the door bounds.
func TestServerDefaults(t *testing.T) {
	s := NewServer(Config{}, nil)
	if cap(s.slots) != DefaultMaxConcurrentStarts || s.cfg.StartTimeout != 5*time.Second || s.cfg.Namespace != "default" ||
		s.limiter.limit != DefaultRateLimit || s.limiter.burst != DefaultRateBurst {
		t.Fatalf("zero Config: %d start slots, start timeout %s, namespace %q, %v/s bursts of %d", cap(s.slots), s.cfg.StartTimeout, s.cfg.Namespace, s.limiter.limit, s.limiter.burst)
	}
	s = NewServer(Config{MaxConcurrentStarts: 3, StartTimeout: time.Second, Namespace: "n", RateLimit: 2, RateBurst: 4}, nil)
	if cap(s.slots) != 3 || s.cfg.StartTimeout != time.Second || s.cfg.Namespace != "n" || s.limiter.limit != 2 || s.limiter.burst != 4 {
		t.Fatalf("set Config: %d start slots, start timeout %s, namespace %q, %v/s bursts of %d", cap(s.slots), s.cfg.StartTimeout, s.cfg.Namespace, s.limiter.limit, s.limiter.burst)
	}
	if s := NewServer(Config{RateLimit: rate.Inf}, nil); s.limiter.limit != rate.Inf {
		t.Fatalf("RateLimit Inf became %v", s.limiter.limit)
	}
}

// A bucket idle for less than a full refill is kept, with what it refilled;
// one idle for exactly a full refill is forgotten (it is full again).
func TestSourceLimiterSweepBounds(t *testing.T) {
	l := newSourceLimiter(rate.Limit(2), 8) // a full refill takes 4 s
	t0 := time.Unix(1_700_000_000, 0)
	a, b := netip.MustParseAddr("198.51.100.1"), netip.MustParseAddr("198.51.100.2")
	for range 8 {
		l.allow(a, t0)
	}
	l.allow(b, t0.Add(3*time.Second))
	taken := 0
	for taken <= 8 {
		if ok, _ := l.allow(a, t0.Add(3*time.Second)); !ok {
			break
		}
		taken++
	}
	if taken != 6 {
		t.Fatalf("3 s after spending its burst of 8 at 2/s, the source took %d tokens, want 6", taken)
	}

	l = newSourceLimiter(rate.Limit(2), 8)
	l.allow(a, t0)                    // sweeps (the first call), and a is seen at t0
	l.allow(b, t0.Add(4*time.Second)) // exactly a refill later: sweeps, a goes
	if n := l.size(); n != 1 {
		t.Fatalf("%d buckets after a source was idle for exactly a full refill, want 1", n)
	}
}

// The edges of what a media URL may spell.
func TestURLRuleEdges(t *testing.T) {
	open := urlRules{allowHTTP: true, policy: safehttp.Policy{AllowAnyPort: true}}
	label63 := strings.Repeat("a", 63)
	name253 := strings.Repeat(label63+".", 3) + strings.Repeat("b", 61) // 4·63+1 = 253
	for _, u := range []string{
		"https://media.example.com:1/v.mp4",
		"https://media.example.com:65535/v.mp4",
		"https://" + label63 + ".example.com/v.mp4",
		"https://" + name253 + "/v.mp4",
		"https://" + name253 + "./v.mp4",
		"https://az.AZ.a0z9.m-_.example.com/v.mp4",
		"https://cdn.example.0x1g/v.mp4",
		"http://media.example.com/v.mp4",
	} {
		if err := open.check(u); err != nil {
			t.Errorf("check(%s): %v, want it accepted", u, err)
		}
	}
	for u, want := range map[string]error{
		"https://media.example.com:0/v.mp4":          errBadHost,
		"https://media.example.com:65536/v.mp4":      errBadHost,
		"https://media.example.com:/v.mp4":           errBadHost,
		"https://" + label63 + "a.example.com/v.mp4": errBadHost,
		"https://" + name253 + "b/v.mp4":             errBadHost,
		"https://a..example.com/v.mp4":               errBadHost,
		"https://a@b.example.com/v.mp4":              errCredentials,
		"https://cdn.example.0x1f/v.mp4":             errBadHost,
		"https://cdn.example.123/v.mp4":              errBadHost,
		"/v.mp4":                                     errNotAbsolute,
		"https:opaque":                               errNotAbsolute,
	} {
		if err := open.check(u); !errors.Is(err, want) {
			t.Errorf("check(%s): %v, want %v", u, err, want)
		}
	}
	for _, c := range "`{@[/:" { // the neighbours of a–z, A–Z, 0–9
		if h := "x" + string(c) + "y.example.com"; validHost(h) {
			t.Errorf("validHost(%q) = true", h)
		}
	}
	if err := (urlRules{}).check("http://media.example.com/v.mp4"); err == nil || err.Error() != "must use https" {
		t.Errorf("http under production rules: %v, want must use https", err)
	}
	if err := open.check("ftp://media.example.com/v.mp4"); err == nil || err.Error() != "must use http or https" {
		t.Errorf("ftp under dev rules: %v, want must use http or https", err)
	}
	if err := (urlRules{policy: safehttp.Policy{}}).check("https://media.example.com:8443/v.mp4"); !errors.Is(err, errPort) {
		t.Errorf("port 8443 under the production policy: %v, want %v", err, errPort)
	}
}

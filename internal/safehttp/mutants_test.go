package safehttp

// Tests that kill mutants .ci/mutation found alive (BENCHMARKS.md, "Mutation
// testing"): each pins a bound or a count the package's other tests let
// drift.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

type answers []netip.Addr

func (a answers) LookupNetIP(context.Context, string, string) ([]netip.Addr, error) {
	return a, nil
}

// The transport's bounds against a slow or hostile server are the documented
// ones (README: "no headers within 30 s"), and a caller's header timeout
// replaces the default rather than being replaced by it.
// Mutants: `headerTimeout == 0` → `!=`, `30 * time.Second` → `/`,
// `90 * time.Second` → `/`, `10 * time.Second` (TLS handshake) → `/`.
func TestTransportBounds(t *testing.T) {
	tr := NewTransport(Policy{}, 0)
	for _, b := range []struct {
		name      string
		got, want time.Duration
	}{
		{"ResponseHeaderTimeout (default)", tr.ResponseHeaderTimeout, 30 * time.Second},
		{"TLSHandshakeTimeout", tr.TLSHandshakeTimeout, 10 * time.Second},
		{"IdleConnTimeout", tr.IdleConnTimeout, 90 * time.Second},
	} {
		if b.got != b.want {
			t.Errorf("%s = %s, want %s", b.name, b.got, b.want)
		}
	}
	if got := NewTransport(Policy{}, 7*time.Second).ResponseHeaderTimeout; got != 7*time.Second {
		t.Errorf("ResponseHeaderTimeout given 7s = %s", got)
	}
}

// A server that never answers is given up on after the client's header
// timeout, well before the caller's own deadline.
func TestClientGivesUpWaitingForHeaders(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })

	client := NewClient(Policy{AllowPrivate: true, AllowAnyPort: true}, ClientOptions{ResponseHeaderTimeout: 200 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
	resp, err := client.Do(req)
	if err == nil {
		resp.Body.Close()
		t.Fatal("GET from a server that never answers succeeded")
	}
	if ctx.Err() != nil || !strings.Contains(err.Error(), "timeout awaiting response headers") {
		t.Fatalf("err = %v (caller's deadline passed: %v), want the header timeout before the caller's 5 s", err, ctx.Err() != nil)
	}
}

// MaxRedirects redirects are followed, one more is refused.
// Mutant: `len(via) > o.MaxRedirects` → `>=` (the last allowed hop refused).
func TestClientFollowsExactlyMaxRedirects(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/"))
		if n == 0 {
			_, _ = io.WriteString(w, "here")
			return
		}
		http.Redirect(w, r, fmt.Sprintf("/%d", n-1), http.StatusFound)
	}))
	t.Cleanup(srv.Close)
	client := NewClient(Policy{AllowPrivate: true, AllowAnyPort: true}, ClientOptions{MaxRedirects: 2})

	resp, err := client.Get(srv.URL + "/2")
	if err != nil {
		t.Fatalf("2 redirects with MaxRedirects 2: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("2 redirects with MaxRedirects 2: status %d", resp.StatusCode)
	}
	if _, err := client.Get(srv.URL + "/3"); err == nil || !strings.Contains(err.Error(), "stopped after 2 redirects") {
		t.Fatalf("3 redirects with MaxRedirects 2: err = %v, want stopped after 2", err)
	}
}

// Over several resolved addresses, each gets its share of what is left of
// the dial's time and the last one all of it, as net.Dialer does.
// Mutant: `len(ips)-i` → `len(ips)+i` (later addresses get ever less).
func TestDialSharesTheTimeAcrossAddresses(t *testing.T) {
	errStop := errors.New("stop before connecting")
	var got []time.Duration
	d := &net.Dialer{Timeout: 12 * time.Second, ControlContext: func(ctx context.Context, _, _ string, _ syscall.RawConn) error {
		dl, ok := ctx.Deadline()
		if !ok {
			t.Error("an attempt without a deadline")
		}
		got = append(got, time.Until(dl))
		return errStop // not blocked: the next address is tried
	}}
	p := Policy{AllowPrivate: true, AllowAnyPort: true, Resolver: answers{
		netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("127.0.0.2"), netip.MustParseAddr("127.0.0.3"),
	}}
	if _, err := p.dialContext(d)(context.Background(), "tcp", "three.example.com:9"); !errors.Is(err, errStop) {
		t.Fatalf("dial: %v", err)
	}
	if len(got) != 3 {
		t.Fatalf("%d attempts, want 3", len(got))
	}
	// 12 s over 3 addresses: 4 s, then half of the ~12 s left, then all of it
	// (the attempts fail at once, so hardly any time passes).
	want := []time.Duration{4 * time.Second, 6 * time.Second, 12 * time.Second}
	for i := range got {
		if got[i] < want[i]-time.Second || got[i] > want[i] {
			t.Errorf("attempt %d got %s, want about %s (all: %v)", i+1, got[i], want[i], got)
		}
	}
}

// An https origin may redirect to https; a redirect to a scheme that is not
// HTTP is refused as blocked rather than left to the transport.
// Mutant: `to.Scheme != "https"` → `==` (https targets refused, others let
// through to CheckHost).
func TestClientRedirectSchemes(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/to-https":
			http.Redirect(w, r, "https://"+r.Host+"/here", http.StatusFound)
		case "/to-ftp":
			http.Redirect(w, r, "ftp://"+r.Host+"/here", http.StatusFound)
		default:
			_, _ = io.WriteString(w, "here")
		}
	}))
	t.Cleanup(srv.Close)
	client := NewClient(Policy{AllowPrivate: true, AllowAnyPort: true}, ClientOptions{MaxRedirects: 3})
	client.Transport.(*http.Transport).TLSClientConfig = srv.Client().Transport.(*http.Transport).TLSClientConfig

	resp, err := client.Get(srv.URL + "/to-https")
	if err != nil {
		t.Fatalf("https → https redirect: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("https → https redirect: status %d", resp.StatusCode)
	}
	_, err = client.Get(srv.URL + "/to-ftp")
	var blocked *BlockedError
	if !errors.As(err, &blocked) || !strings.Contains(blocked.Reason, "non-HTTP scheme") {
		t.Fatalf("https → ftp redirect: err = %v, want a BlockedError about the scheme", err)
	}
}

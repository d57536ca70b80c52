package safehttp_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wochit-ingest/wochit-ingest/devstack/mediaorigin"
	"github.com/wochit-ingest/wochit-ingest/internal/safehttp"
)

// everyNameIs resolves every host name to one address. Pointed at the
// canary, it turns a name check that wrongly passes into a connection the
// canary counts.
type everyNameIs netip.Addr

func (a everyNameIs) LookupNetIP(context.Context, string, string) ([]netip.Addr, error) {
	return []netip.Addr{netip.Addr(a)}, nil
}

var loopback = everyNameIs(netip.MustParseAddr("127.0.0.1"))

func newCanary(t *testing.T) *mediaorigin.Canary {
	t.Helper()
	c, err := mediaorigin.NewCanary()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func get(c *http.Client, rawURL string) (*http.Response, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.Do(req)
	if err == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	return resp, err
}

// ssrfCorpus is every way a URL might try to reach something internal. Each
// URL aims at the canary where it can (its port, names resolving to it);
// the private ranges have no canary, and must fail as blocked before any
// connection is attempted.
func ssrfCorpus(c *mediaorigin.Canary) []string {
	p := strconv.Itoa(c.Port)
	p6 := p
	if c.Port6 != 0 {
		p6 = strconv.Itoa(c.Port6)
	}
	return []string{
		"http://127.0.0.1:" + p + "/v.mp4",
		"http://127.0.0.2:" + p + "/v.mp4",
		"http://[::1]:" + p6 + "/v.mp4",
		"http://[::ffff:127.0.0.1]:" + p + "/v.mp4",
		"http://[::ffff:7f00:1]:" + p + "/v.mp4",
		"http://0.0.0.0:" + p + "/v.mp4",
		"http://[::]:" + p6 + "/v.mp4",
		"http://169.254.169.254:" + p + "/computeMetadata/v1/",
		"http://metadata.google.internal:" + p + "/computeMetadata/v1/",
		"http://metadata:" + p + "/",
		"http://10.0.0.1:" + p + "/",
		"http://172.16.5.4:" + p + "/",
		"http://192.168.0.1:" + p + "/",
		"http://100.64.0.1:" + p + "/",
		"http://198.18.0.1:" + p + "/",
		"http://[fd00::1]:" + p + "/",
		"http://[fe80::1%25lo]:" + p + "/",
		"http://2130706433:" + p + "/",          // 127.0.0.1, decimal
		"http://0x7f000001:" + p + "/",          // hex
		"http://0x7f.1:" + p + "/",              // hex, short
		"http://0177.0.0.1:" + p + "/",          // octal
		"http://127.1:" + p + "/",               // short
		"http://localhost:" + p + "/",           // name
		"http://app.localhost:" + p + "/",       // *.localhost
		"http://redis:" + p + "/",               // single label
		"http://private.example.com:" + p + "/", // a public-looking name that resolves to loopback
	}
}

// The production policy (plus the canary's port, so only the address rules
// are being tested) refuses the whole corpus, and the canary sees nothing.
func TestClientRefusesSSRFCorpus(t *testing.T) {
	canary := newCanary(t)
	policy := safehttp.Policy{Ports: []int{canary.Port, canary.Port6}, Resolver: loopback}
	client := safehttp.NewClient(policy, safehttp.ClientOptions{MaxRedirects: 3})
	for _, u := range ssrfCorpus(canary) {
		_, err := get(client, u)
		if !safehttp.IsBlocked(err) {
			t.Errorf("GET %s: err = %v, want a BlockedError", u, err)
		}
	}
	// A non-default port on an otherwise permitted destination.
	devNoPorts := safehttp.NewClient(safehttp.Policy{AllowPrivate: true, Resolver: loopback}, safehttp.ClientOptions{})
	for _, u := range []string{
		fmt.Sprintf("http://127.0.0.1:%d/", canary.Port),
		fmt.Sprintf("http://media.example.com:%d/", canary.Port),
	} {
		if _, err := get(devNoPorts, u); !safehttp.IsBlocked(err) {
			t.Errorf("GET %s without the port allowed: err = %v, want a BlockedError", u, err)
		}
	}
	if n := canary.Connections(); n != 0 {
		t.Fatalf("the canary accepted %d connections, want 0", n)
	}

	// Control: where the policy allows it, the same client reaches the canary,
	// by address and through the resolver, so the zero above is meaningful.
	allowed := safehttp.NewClient(safehttp.Policy{AllowPrivate: true, AllowAnyPort: true, Resolver: loopback}, safehttp.ClientOptions{})
	for _, u := range []string{
		fmt.Sprintf("http://127.0.0.1:%d/v.mp4", canary.Port),
		fmt.Sprintf("http://cdn.example.com:%d/v.mp4", canary.Port),
	} {
		resp, err := get(allowed, u)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("control GET %s: %v %v", u, resp, err)
		}
	}
	if n := canary.Connections(); n != 2 {
		t.Fatalf("the canary accepted %d connections after two control requests, want 2", n)
	}
}

// Every redirect hop goes through the same dial-time checks. The origin is
// reached under a policy that allows loopback (as in dev), and redirects to
// destinations even that policy refuses; a redirect to an allowed
// destination is followed, to show the refusals are not a redirect failure.
func TestClientRechecksEveryRedirectHop(t *testing.T) {
	canary := newCanary(t)
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, r.URL.Query().Get("to"), http.StatusFound)
	}))
	t.Cleanup(origin.Close)
	originPort := origin.Listener.Addr().(*net.TCPAddr).Port
	via := func(p safehttp.Policy, to string) error {
		client := safehttp.NewClient(p, safehttp.ClientOptions{MaxRedirects: 3})
		_, err := get(client, fmt.Sprintf("http://cdn.example.com:%d/r?to=%s", originPort, url.QueryEscape(to)))
		return err
	}
	dev := safehttp.Policy{AllowPrivate: true, AllowAnyPort: true, Resolver: loopback}
	p := strconv.Itoa(canary.Port)
	for _, to := range []string{
		"http://0.0.0.0:" + p + "/",
		"http://[::ffff:127.0.0.1]:" + p + "/",
		"http://169.254.169.254:" + p + "/latest/meta-data/",
		"http://metadata.google.internal:" + p + "/computeMetadata/v1/",
		"http://2130706433:" + p + "/",
		"http://0x7f.1:" + p + "/",
	} {
		if err := via(dev, to); !safehttp.IsBlocked(err) {
			t.Errorf("redirect to %s: err = %v, want a BlockedError", to, err)
		}
	}
	// The production policy with only the origin's port: the canary's port is refused.
	portsOnly := safehttp.Policy{AllowPrivate: true, Ports: []int{originPort}, Resolver: loopback}
	if err := via(portsOnly, "http://127.0.0.1:"+p+"/"); !safehttp.IsBlocked(err) {
		t.Errorf("redirect to a port not allowed: err = %v, want a BlockedError", err)
	}
	if n := canary.Connections(); n != 0 {
		t.Fatalf("the canary accepted %d connections through redirects, want 0", n)
	}

	if err := via(dev, "http://127.0.0.1:"+p+"/v.mp4"); err != nil {
		t.Fatalf("control redirect to an allowed destination: %v", err)
	}
	if n := canary.Connections(); n != 1 {
		t.Fatalf("the canary accepted %d connections after the control redirect, want 1", n)
	}
}

// Environment proxies would make the dial-time check see the proxy instead
// of the target. The proxy here is the canary, on an address the policy
// allows; the target is one it refuses.
func TestClientIgnoresEnvironmentProxies(t *testing.T) {
	canary := newCanary(t)
	t.Setenv("HTTP_PROXY", fmt.Sprintf("http://127.0.0.1:%d", canary.Port))
	t.Setenv("HTTPS_PROXY", fmt.Sprintf("http://127.0.0.1:%d", canary.Port))
	client := safehttp.NewClient(safehttp.Policy{AllowPrivate: true, AllowAnyPort: true}, safehttp.ClientOptions{})
	if _, err := get(client, "http://metadata.google.internal/computeMetadata/v1/"); !safehttp.IsBlocked(err) {
		t.Fatalf("err = %v, want a BlockedError", err)
	}
	if n := canary.Connections(); n != 0 {
		t.Fatalf("the proxy (canary) accepted %d connections, want 0", n)
	}
}

// A name whose addresses are all refused is blocked; a name with one allowed
// address is dialed there.
func TestClientTriesEachResolvedAddress(t *testing.T) {
	canary := newCanary(t)
	resolver := fixedAnswers{netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("127.0.0.1")}
	client := safehttp.NewClient(safehttp.Policy{Resolver: resolver, Ports: []int{canary.Port}}, safehttp.ClientOptions{})
	if _, err := get(client, fmt.Sprintf("http://two.example.com:%d/", canary.Port)); !safehttp.IsBlocked(err) {
		t.Fatalf("err = %v, want a BlockedError", err)
	}
	if n := canary.Connections(); n != 0 {
		t.Fatalf("the canary accepted %d connections, want 0", n)
	}
	// Under AllowPrivate, 10.0.0.1 is allowed but unreachable in a test;
	// use a blocked address first instead and the loopback one second.
	resolver = fixedAnswers{netip.MustParseAddr("169.254.169.254"), netip.MustParseAddr("127.0.0.1")}
	client = safehttp.NewClient(safehttp.Policy{AllowPrivate: true, AllowAnyPort: true, Resolver: resolver}, safehttp.ClientOptions{})
	if resp, err := get(client, fmt.Sprintf("http://two.example.com:%d/", canary.Port)); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET with one allowed address: %v %v", resp, err)
	}
	if n := canary.Connections(); n != 1 {
		t.Fatalf("the canary accepted %d connections, want 1", n)
	}
}

type fixedAnswers []netip.Addr

func (a fixedAnswers) LookupNetIP(context.Context, string, string) ([]netip.Addr, error) {
	return a, nil
}

// redirector answers every request with a redirect to its "to" parameter.
func redirector(t *testing.T, tls bool) (*httptest.Server, int) {
	t.Helper()
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, r.URL.Query().Get("to"), http.StatusFound)
	})
	var s *httptest.Server
	if tls {
		s = httptest.NewTLSServer(h)
	} else {
		s = httptest.NewServer(h)
	}
	t.Cleanup(s.Close)
	return s, s.Listener.Addr().(*net.TCPAddr).Port
}

// With Hosts set (INGRESS_MEDIA_HOSTS on a worker), a redirect from an
// allowed host to another one is refused as blocked, and the other host never
// sees a connection; the same request under the same policy without Hosts
// reaches it, so the canary can count.
func TestClientKeepsToTheMediaHosts(t *testing.T) {
	canary := newCanary(t)
	_, port := redirector(t, false)
	to := fmt.Sprintf("http://elsewhere.example.org:%d/v.mp4", canary.Port)
	from := fmt.Sprintf("http://cdn.example.com:%d/v.mp4?to=%s", port, url.QueryEscape(to))
	open := safehttp.Policy{AllowPrivate: true, AllowAnyPort: true, Resolver: loopback} // names resolve to the redirector's and the canary's loopback
	hosts := open
	hosts.Hosts = []string{"cdn.example.com"}

	for _, u := range []string{from, to} {
		_, err := get(safehttp.NewClient(hosts, safehttp.ClientOptions{MaxRedirects: 3}), u)
		var blocked *safehttp.BlockedError
		if !errors.As(err, &blocked) || !strings.Contains(blocked.Reason, "media host") {
			t.Errorf("GET %s with Hosts %v: err = %v, want a BlockedError about the media host", u, hosts.Hosts, err)
		}
	}
	if n := canary.Connections(); n != 0 {
		t.Fatalf("the host off the list accepted %d connections, want 0", n)
	}

	if resp, err := get(safehttp.NewClient(open, safehttp.ClientOptions{MaxRedirects: 3}), from); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("control, without Hosts: %v %v", resp, err)
	}
	if n := canary.Connections(); n != 1 {
		t.Fatalf("the canary accepted %d connections after the control request, want 1", n)
	}
}

// A redirect from https to http is refused as blocked (the same URL would
// redirect the same way, so it is not worth retrying) and the http target
// sees nothing; the same redirect from an http origin is followed.
func TestClientRefusesRedirectFromHTTPSToHTTP(t *testing.T) {
	canary := newCanary(t)
	tlsOrigin, tlsPort := redirector(t, true)
	_, plainPort := redirector(t, false)
	to := url.QueryEscape(fmt.Sprintf("http://127.0.0.1:%d/v.mp4", canary.Port))
	client := safehttp.NewClient(safehttp.Policy{AllowPrivate: true, AllowAnyPort: true}, safehttp.ClientOptions{MaxRedirects: 3})
	client.Transport.(*http.Transport).TLSClientConfig = tlsOrigin.Client().Transport.(*http.Transport).TLSClientConfig

	_, err := get(client, fmt.Sprintf("https://127.0.0.1:%d/v.mp4?to=%s", tlsPort, to))
	var blocked *safehttp.BlockedError
	if !errors.As(err, &blocked) || !strings.Contains(blocked.Reason, "https to http") {
		t.Fatalf("https → http redirect: err = %v, want a BlockedError about the downgrade", err)
	}
	if n := canary.Connections(); n != 0 {
		t.Fatalf("the http target accepted %d connections, want 0", n)
	}
	if resp, err := get(client, fmt.Sprintf("http://127.0.0.1:%d/v.mp4?to=%s", plainPort, to)); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("control, http → http: %v %v", resp, err)
	}
	if n := canary.Connections(); n != 1 {
		t.Fatalf("the canary accepted %d connections after the control request, want 1", n)
	}
}

// Cloud metadata endpoints inside the ranges AllowPrivate opens (GCE's IPv6
// metadata server, AWS's instance endpoints in fd00:ec2::/32) are refused at
// dial time, however the name resolves; a neighbouring ULA address is not.
func TestClientRefusesIPv6MetadataEvenWithPrivateAllowed(t *testing.T) {
	for _, addr := range []string{"fd20:ce::254", "fd00:ec2::254", "fd00:ec2::23"} {
		p := safehttp.Policy{AllowPrivate: true, AllowAnyPort: true, Resolver: everyNameIs(netip.MustParseAddr(addr))}
		client := safehttp.NewClient(p, safehttp.ClientOptions{})
		for _, u := range []string{"http://media.example.com/", "http://[" + addr + "]/"} {
			if _, err := get(client, u); !safehttp.IsBlocked(err) {
				t.Errorf("GET %s (resolving to %s): err = %v, want a BlockedError", u, addr, err)
			}
		}
	}
	// The control is a dial that is attempted (whatever its outcome on
	// this machine's network), not refused.
	p := safehttp.Policy{AllowPrivate: true, AllowAnyPort: true, Resolver: everyNameIs(netip.MustParseAddr("fd20:ce::253"))}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://media.example.com/", nil)
	if _, err := safehttp.NewClient(p, safehttp.ClientOptions{}).Do(req); safehttp.IsBlocked(err) {
		t.Fatalf("fd20:ce::253 under AllowPrivate: %v, want it dialed", err)
	}
}

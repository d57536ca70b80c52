package transfer_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strconv"
	"testing"

	"github.com/wochit-ingest/wochit-ingest/contract"

	"github.com/wochit-ingest/wochit-ingest/devstack/mediaorigin"
	"github.com/wochit-ingest/wochit-ingest/internal/safehttp"
)

// toLoopback resolves every name to 127.0.0.1, where the canary listens: a
// name check that wrongly passes becomes a connection the canary counts.
type toLoopback struct{}

func (toLoopback) LookupNetIP(context.Context, string, string) ([]netip.Addr, error) {
	return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, nil
}

// Copy, with the production policy, refuses every SSRF attempt as a
// non-retryable BlockedDestination, stores nothing, and never connects to
// the canary the URLs aim at. The canary's ports are allowed, so each refusal
// is about the destination; a control transfer under dev's policy does reach
// the canary.
func TestTransferRefusesSSRFCorpus(t *testing.T) {
	e := newEnv(t)
	canary, err := mediaorigin.NewCanary()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(canary.Close)
	p := strconv.Itoa(canary.Port)
	p6 := p
	if canary.Port6 != 0 {
		p6 = strconv.Itoa(canary.Port6)
	}
	production := safehttp.Policy{Ports: []int{canary.Port, canary.Port6}, Resolver: toLoopback{}}
	dev := safehttp.Policy{AllowPrivate: true, AllowAnyPort: true, Resolver: toLoopback{}}

	redirector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, r.URL.Query().Get("to"), http.StatusFound)
	}))
	t.Cleanup(redirector.Close)
	redirect := func(to string) string {
		// A public-looking origin (resolved to the redirector) that redirects.
		return fmt.Sprintf("http://media.example.com:%d/v.mp4?to=%s", redirector.Listener.Addr().(*net.TCPAddr).Port, url.QueryEscape(to))
	}

	tests := []struct {
		url    string
		policy safehttp.Policy
	}{
		{"http://127.0.0.1:" + p + "/v.mp4", production},
		{"http://[::1]:" + p6 + "/v.mp4", production},
		{"http://[::ffff:127.0.0.1]:" + p + "/v.mp4", production},
		{"http://169.254.169.254:" + p + "/latest/meta-data/", production},
		{"http://metadata.google.internal:" + p + "/computeMetadata/v1/", production},
		{"http://10.0.0.1:" + p + "/v.mp4", production},
		{"http://172.16.0.1:" + p + "/v.mp4", production},
		{"http://192.168.0.1:" + p + "/v.mp4", production},
		{"http://100.64.0.1:" + p + "/v.mp4", production},
		{"http://0.0.0.0:" + p + "/v.mp4", production},
		{"http://2130706433:" + p + "/v.mp4", production},
		{"http://0x7f.1:" + p + "/v.mp4", production},
		{"http://0177.0.0.1:" + p + "/v.mp4", production},
		{"http://127.1:" + p + "/v.mp4", production},
		{"http://localhost:" + p + "/v.mp4", production},
		{"http://private.example.com:" + p + "/v.mp4", production},                // resolves to loopback
		{"http://127.0.0.1:" + p + "/v.mp4", safehttp.Policy{AllowPrivate: true}}, // port not allowed
		{redirect("http://0.0.0.0:" + p + "/v.mp4"), dev},
		{redirect("http://[::ffff:127.0.0.1]:" + p + "/v.mp4"), dev},
		{redirect("http://metadata.google.internal:" + p + "/v.mp4"), dev},
		{redirect("http://169.254.169.254:" + p + "/v.mp4"), dev},
	}
	for i, tt := range tests {
		e.http = safehttp.NewClient(tt.policy, safehttp.ClientOptions{MaxRedirects: 3})
		id := fmt.Sprintf("ssrf-%d", i)
		_, err := e.copyFile(input{kind: contract.KindVideo, url: tt.url, id: id})
		if err == nil {
			t.Errorf("%s: transfer succeeded", tt.url)
			continue
		}
		if errType, nonRetryable := reasonOf(t, err); errType != contract.BlockedDestination || !nonRetryable {
			t.Errorf("%s: error = %v (%s, nonRetryable=%v), want a non-retryable %s", tt.url, err, errType, nonRetryable, contract.BlockedDestination)
		}
		if objs := e.objects(t, "videos/"+id+"/"); len(objs) != 0 {
			t.Errorf("%s: objects stored: %v", tt.url, objs)
		}
	}
	if n := canary.Connections(); n != 0 {
		t.Fatalf("the canary accepted %d connections, want 0", n)
	}

	// Control: allowed, the same copy fetches from the canary, directly
	// and through the redirect.
	for i, u := range []string{"http://127.0.0.1:" + p + "/v.mp4", redirect("http://127.0.0.1:" + p + "/v.mp4")} {
		e.http = safehttp.NewClient(dev, safehttp.ClientOptions{MaxRedirects: 3}) // a fresh connection each
		res, err := e.copyFile(input{kind: contract.KindVideo, url: u, id: fmt.Sprintf("control-%d", i)})
		if err != nil {
			t.Fatalf("control transfer from %s: %v", u, err)
		}
		if got := string(readObject(t, e.bucket, res.Object.Name)); got != string(mediaorigin.CanaryBody) {
			t.Fatalf("control stored %q, want the canary's body", got)
		}
	}
	if n := canary.Connections(); n != 2 {
		t.Fatalf("the canary accepted %d connections after two control transfers, want 2", n)
	}
}

// A worker with INGRESS_MEDIA_HOSTS set (safehttp.Policy.Hosts) refuses a
// redirect from a listed host to another one with a non-retryable
// BlockedDestination, and the other host never sees a connection. The same
// transfer under the same policy without the list reaches it (the canary can
// count). A redirect from https to http is refused the same way.
func TestTransferKeepsToTheMediaHostsOnRedirect(t *testing.T) {
	e := newEnv(t)
	canary, err := mediaorigin.NewCanary()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(canary.Close)
	redirect := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, r.URL.Query().Get("to"), http.StatusFound)
	})
	plain := httptest.NewServer(redirect)
	t.Cleanup(plain.Close)
	tlsOrigin := httptest.NewTLSServer(redirect)
	t.Cleanup(tlsOrigin.Close)
	port := func(s *httptest.Server) int { return s.Listener.Addr().(*net.TCPAddr).Port }
	offList := url.QueryEscape(fmt.Sprintf("http://elsewhere.example.org:%d/v.mp4", canary.Port))
	fromListed := fmt.Sprintf("http://cdn.example.com:%d/v.mp4?to=%s", port(plain), offList)

	open := safehttp.Policy{AllowPrivate: true, AllowAnyPort: true, Resolver: toLoopback{}}
	listed := open
	listed.Hosts = []string{"cdn.example.com"}
	tests := []struct {
		name   string
		policy safehttp.Policy
		url    string
	}{
		{"redirect off the media hosts", listed, fromListed},
		{"https to http", open, fmt.Sprintf("https://cdn.example.com:%d/v.mp4?to=%s", port(tlsOrigin), url.QueryEscape(fmt.Sprintf("http://127.0.0.1:%d/v.mp4", canary.Port)))},
	}
	for i, tt := range tests {
		e.http = safehttp.NewClient(tt.policy, safehttp.ClientOptions{MaxRedirects: 3})
		e.http.Transport.(*http.Transport).TLSClientConfig = tlsOrigin.Client().Transport.(*http.Transport).TLSClientConfig
		id := fmt.Sprintf("hosts-%d", i)
		_, err := e.copyFile(input{kind: contract.KindVideo, url: tt.url, id: id})
		if err == nil {
			t.Fatalf("%s: transfer succeeded", tt.name)
		}
		if errType, nonRetryable := reasonOf(t, err); errType != contract.BlockedDestination || !nonRetryable {
			t.Errorf("%s: error = %v (%s, nonRetryable=%v), want a non-retryable %s", tt.name, err, errType, nonRetryable, contract.BlockedDestination)
		}
		if objs := e.objects(t, "videos/"+id+"/"); len(objs) != 0 {
			t.Errorf("%s: objects stored: %v", tt.name, objs)
		}
	}
	if n := canary.Connections(); n != 0 {
		t.Fatalf("the host the redirects lead to accepted %d connections, want 0", n)
	}

	e.http = safehttp.NewClient(open, safehttp.ClientOptions{MaxRedirects: 3})
	if _, err := e.copyFile(input{kind: contract.KindVideo, url: fromListed, id: "hosts-control"}); err != nil {
		t.Fatalf("control transfer without the media-host list: %v", err)
	}
	if n := canary.Connections(); n != 1 {
		t.Fatalf("the canary accepted %d connections after the control transfer, want 1", n)
	}
}

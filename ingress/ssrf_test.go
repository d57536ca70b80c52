package ingress_test

import (
	"context"
	"net/http"
	"net/netip"
	"sync/atomic"
	"testing"

	"github.com/wochit-ingest/wochit-ingest/ingress"
	"github.com/wochit-ingest/wochit-ingest/internal/safehttp"
)

// The ingress refuses the SSRF corpus at the door, in both URL fields: 400
// invalid_field and no workflow (so no worker will ever fetch it). The ports
// in the URLs are allowed, so each refusal is about the host. Entries marked
// devToo are refused even under dev's policy, which allows loopback and
// private networks.
//
// The door judges a URL by its spelling and never resolves it (a DNS answer
// could change before the worker connects): the policies' resolver, which a
// lookup through safehttp would use, must see no lookup. (The ingress never
// dials either, so a canary listener would prove nothing here; the workers'
// tests aim the corpus at one.)
func TestIngressRefusesSSRFCorpus(t *testing.T) {
	const p = "8443"
	lookups := &countingResolver{}
	ports := []int{8443}
	prod := newFixture(t, temporalServer(t), ingress.Config{OriginPolicy: safehttp.Policy{Ports: ports, Resolver: lookups}})
	dev := newFixture(t, temporalServer(t), ingress.Config{AllowHTTPURLs: true, OriginPolicy: safehttp.Policy{AllowPrivate: true, AllowAnyPort: true, Resolver: lookups}})

	corpus := []struct {
		url    string
		devToo bool
	}{
		{"https://127.0.0.1:" + p + "/v.mp4", false},
		{"https://[::1]:" + p + "/v.mp4", false},
		{"https://[::ffff:127.0.0.1]:" + p + "/v.mp4", true},
		{"https://[::ffff:7f00:1]:" + p + "/v.mp4", true},
		{"https://169.254.169.254/latest/meta-data/", true},
		{"https://[fe80::1%25eth0]/", true},
		{"https://metadata.google.internal/computeMetadata/v1/", true},
		{"https://metadata/computeMetadata/v1/", true},
		{"https://METADATA.GOOGLE.INTERNAL./", true},
		{"https://10.0.0.1/", false},
		{"https://172.16.0.1/", false},
		{"https://192.168.1.1/", false},
		{"https://100.64.0.1/", false},
		{"https://100.100.100.200/latest/meta-data/", true},
		{"https://[fd00::1]/", false},
		{"https://0.0.0.0:" + p + "/", true},
		{"https://[::]:" + p + "/", true},
		{"https://224.0.0.1/", true},
		{"https://[64:ff9b::7f00:1]/", true},
		{"https://[2002:7f00:1::1]/", true},
		{"https://2130706433:" + p + "/", true},
		{"https://0x7f000001:" + p + "/", true},
		{"https://0x7f.1:" + p + "/", true},
		{"https://0177.0.0.1:" + p + "/", true},
		{"https://127.1:" + p + "/", true},
		{"https://127.0.0.1.:" + p + "/", true},
		{"https://%31%32%37.0.0.1:" + p + "/", false}, // percent-encoded 127
		{"https://localhost:" + p + "/", false},
		{"https://app.localhost:" + p + "/", false},
		{"https://redis:" + p + "/", false},
		{"https://vm.c.project.internal/", false},
	}
	for _, tt := range corpus {
		for _, field := range []string{"videoUrl", "thumbnailUrl"} {
			servers := []fixture{prod}
			if tt.devToo {
				servers = append(servers, dev)
			}
			for i, f := range servers {
				id := uniqueID(t)
				got := do(t, f.url, request{path: "/webhooks/wochit", header: jsonHeader(), body: withField(t, id, field, tt.url)})
				if got.status != http.StatusBadRequest || got.body["error"] != "invalid_field" || got.body["field"] != field {
					t.Errorf("%s=%s (policy %d): answer %d %v, want 400 invalid_field %s", field, tt.url, i, got.status, got.body, field)
					continue
				}
				assertNotStarted(t, f.temporal, id)
			}
		}
	}
	// A non-default port on a public host, under the production policy.
	id := uniqueID(t)
	if got := do(t, prod.url, request{path: "/webhooks/wochit", header: jsonHeader(), body: withField(t, id, "videoUrl", "https://media.example.com:8444/v.mp4")}); got.status != 400 || got.body["field"] != "videoUrl" {
		t.Errorf("a port not allowed: answer %d %v, want 400 invalid_field videoUrl", got.status, got.body)
	}
	assertNotStarted(t, prod.temporal, id)

	// Control: the same servers accept a public host and, under dev's
	// policy, loopback.
	for _, c := range []struct {
		f   fixture
		url string
	}{
		{prod, "https://media.example.com:" + p + "/v.mp4"},
		{dev, "http://127.0.0.1:" + p + "/v.mp4"},
	} {
		if got := do(t, c.f.url, request{path: "/webhooks/wochit", header: jsonHeader(), body: withField(t, uniqueID(t), "videoUrl", c.url)}); got.status != http.StatusAccepted {
			t.Fatalf("control %s: answer %d %v, want 202", c.url, got.status, got.body)
		}
	}
	if n := lookups.n.Load(); n != 0 {
		t.Fatalf("the ingress looked up %d host names, want 0: it judges URLs by their spelling", n)
	}
	// The counter counts: a worker's client on the same policy resolves.
	client := safehttp.NewClient(safehttp.Policy{Ports: ports, Resolver: lookups}, safehttp.ClientOptions{})
	if _, err := client.Get("https://media.example.com:" + p + "/v.mp4"); err == nil || lookups.n.Load() != 1 {
		t.Fatalf("control lookup: %v, %d lookups; want the resolver asked once", err, lookups.n.Load())
	}
}

// countingResolver counts lookups and answers with a documentation address,
// which every policy refuses.
type countingResolver struct{ n atomic.Int64 }

func (c *countingResolver) LookupNetIP(context.Context, string, string) ([]netip.Addr, error) {
	c.n.Add(1)
	return []netip.Addr{netip.MustParseAddr("192.0.2.1")}, nil
}

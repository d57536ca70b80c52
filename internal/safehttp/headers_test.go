package safehttp_test

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/wochit-ingest/wochit-ingest/internal/safehttp"
)

// Responses with more than 64 KiB of headers are refused (net/http alone
// reads up to 10 MiB of them); less passes, and a client may set its own cap.
//
// Mutation: drop MaxResponseHeaderBytes from NewTransport and NewClient →
// "100 KiB of headers with the default cap: err <nil>".
func TestResponseHeadersAreCapped(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		kib, _ := strconv.Atoi(r.URL.Query().Get("kib"))
		w.Header().Set("X-Padding", strings.Repeat("a", kib<<10))
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	local := safehttp.Policy{AllowPrivate: true, AllowAnyPort: true}
	for _, tt := range []struct {
		name    string
		opts    safehttp.ClientOptions
		kib     string
		refused bool
	}{
		{"32 KiB of headers with the default cap", safehttp.ClientOptions{}, "32", false},
		{"100 KiB of headers with the default cap", safehttp.ClientOptions{}, "100", true},
		{"100 KiB of headers with a 1 MiB cap", safehttp.ClientOptions{MaxResponseHeaderBytes: 1 << 20}, "100", false},
		{"32 KiB of headers with a 16 KiB cap", safehttp.ClientOptions{MaxResponseHeaderBytes: 16 << 10}, "32", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := safehttp.NewClient(local, tt.opts).Get(srv.URL + "/?kib=" + tt.kib)
			if err == nil {
				resp.Body.Close()
			}
			if refused := err != nil && strings.Contains(err.Error(), "headers exceeded"); refused != tt.refused {
				t.Fatalf("%s: err %v, want refused %v", tt.name, err, tt.refused)
			}
		})
	}
	if got := safehttp.NewTransport(local, 0).MaxResponseHeaderBytes; got != safehttp.DefaultMaxResponseHeaderBytes {
		t.Fatalf("NewTransport's MaxResponseHeaderBytes = %d, want %d", got, safehttp.DefaultMaxResponseHeaderBytes)
	}
}

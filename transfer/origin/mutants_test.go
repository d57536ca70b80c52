package origin_test

// Tests that kill mutants .ci/mutation found alive (BENCHMARKS.md, "Mutation
// testing").

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/wochit-ingest/wochit-ingest/transfer/origin"
)

// An empty body announced by Content-Length: 0 is delimited: it cannot be a
// cut-short close-delimited body.
// Mutant: `resp.ContentLength < 0` → `<= 0`.
func TestCloseDelimitedEmptyBody(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	t.Cleanup(srv.Close)
	resp := get(t, srv.Client(), srv.URL)
	got, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || len(got) != 0 || resp.ProtoMajor != 1 || resp.ContentLength != 0 {
		t.Fatalf("read %q, %v over HTTP/%d with Content-Length %d; want an empty HTTP/1.1 body of Content-Length 0", got, err, resp.ProtoMajor, resp.ContentLength)
	}
	if origin.CloseDelimited(resp) {
		t.Fatal("CloseDelimited = true for a Content-Length: 0 answer")
	}
}

// The edges of a Content-Range: a one-byte range (End == Start) and the last
// byte (End == Total-1) are well formed; a range ending at Total is not, nor
// any range of an empty file (Total 0: there is no byte to send).
// Mutants: `r.End < r.Start` → `<=`, `r.Total >= 0` → `>` (a total of 0
// taken for "*", unknown).
func TestParseContentRangeEdges(t *testing.T) {
	for h, want := range map[string]origin.ByteRange{
		"bytes 5-5/10": {Start: 5, End: 5, Total: 10},
		"bytes 9-9/10": {Start: 9, End: 9, Total: 10},
		"bytes 0-9/10": {Start: 0, End: 9, Total: 10},
	} {
		if got, ok := origin.ParseContentRange(h); !ok || got != want {
			t.Errorf("ParseContentRange(%q) = %+v, %v; want %+v", h, got, ok, want)
		}
	}
	for _, h := range []string{"bytes 0-10/10", "bytes 10-10/10", "bytes 6-5/10", "bytes 0-0/0"} {
		if got, ok := origin.ParseContentRange(h); ok {
			t.Errorf("ParseContentRange(%q) = %+v, true; want it refused", h, got)
		}
	}
}

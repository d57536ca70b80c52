package mediaorigin

import (
	"bytes"
	"image/png"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/wochit-ingest/wochit-ingest/internal/mediacheck"
)

func get(t *testing.T, url, rangeHeader string) (*http.Response, []byte) {
	t.Helper()
	return getIfRange(t, url, rangeHeader, "")
}

func TestOriginServesRangesOfBodyAndGeneratedContent(t *testing.T) {
	o := New()
	srv := httptest.NewServer(o)
	defer srv.Close()
	body := Video("x", 1000)
	gen := NewGenerated("x", 1000)
	whole := make([]byte, 1000)
	if n, err := gen.ReadAt(whole, 0); n != 1000 || err != nil {
		t.Fatalf("ReadAt = %d, %v", n, err)
	}
	o.Put("/body", File{Body: body})
	o.Put("/gen", File{Source: gen, Size: 1000})

	for path, content := range map[string][]byte{"/body": body, "/gen": whole} {
		resp, got := get(t, srv.URL+path, "bytes=100-199")
		if resp.StatusCode != http.StatusPartialContent || resp.Header.Get("Content-Range") != "bytes 100-199/1000" || !bytes.Equal(got, content[100:200]) {
			t.Errorf("%s range: %d %q, %d bytes", path, resp.StatusCode, resp.Header.Get("Content-Range"), len(got))
		}
		resp, got = get(t, srv.URL+path, "")
		if resp.StatusCode != http.StatusOK || !bytes.Equal(got, content) {
			t.Errorf("%s whole: %d, %d bytes", path, resp.StatusCode, len(got))
		}
	}
	// Generated content reads the same at any offset and looks like MP4.
	part := make([]byte, 37)
	gen.ReadAt(part, 501)
	if !bytes.Equal(part, whole[501:538]) || string(whole[4:8]) != "ftyp" {
		t.Fatal("generated content is not consistent across offsets or lacks the MP4 signature")
	}
}

func TestOriginFaults(t *testing.T) {
	o := New()
	srv := httptest.NewServer(o)
	defer srv.Close()
	body := Video("y", 10000)
	o.Put("/f", File{Body: body, Statuses: []int{503}, CutAfter: 100, CutTimes: 1})

	if resp, _ := get(t, srv.URL+"/f", ""); resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("first request: %d, want the queued 503", resp.StatusCode)
	}
	resp, err := http.Get(srv.URL + "/f")
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err == nil || len(got) != 100 {
		t.Fatalf("second request read %d bytes, err %v; want a cut after 100", len(got), err)
	}
	if _, got := get(t, srv.URL+"/f", ""); !bytes.Equal(got, body) {
		t.Fatal("third request did not get the whole body")
	}
	if s := o.Settled("/f"); s.Requests != 3 || s.Cut != 1 || s.Completed != 1 {
		t.Fatalf("stats = %+v", s)
	}
}

func getIfRange(t *testing.T, url, rangeHeader, ifRange string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if rangeHeader != "" {
		req.Header.Set("Range", rangeHeader)
	}
	if ifRange != "" {
		req.Header.Set("If-Range", ifRange)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

func TestOriginValidatorsRangeCapsAndVersions(t *testing.T) {
	o := New()
	srv := httptest.NewServer(o)
	defer srv.Close()
	v1, v2 := Video("v1", 1000), Video("v2", 1000)
	modified := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	o.Put("/strong", File{Body: v1, MaxRange: 300, Then: &File{Body: v2}, ThenAfter: 2})
	o.Put("/weak", File{Body: v1, WeakETag: true})
	o.Put("/dated", File{Body: v1, NoETag: true, LastModified: modified})
	o.Put("/broken", File{Body: v1, IgnoreIfRange: true, Then: &File{Body: v2, IgnoreIfRange: true}, ThenAfter: 1})

	// A range is capped at MaxRange; If-Range with the current ETag keeps it.
	resp, got := get(t, srv.URL+"/strong", "bytes=0-999")
	etag := resp.Header.Get("ETag")
	if resp.StatusCode != http.StatusPartialContent || resp.Header.Get("Content-Range") != "bytes 0-299/1000" || !bytes.Equal(got, v1[:300]) {
		t.Fatalf("capped range: %d %q, %d bytes", resp.StatusCode, resp.Header.Get("Content-Range"), len(got))
	}
	if resp, _ := getIfRange(t, srv.URL+"/strong", "bytes=300-599", etag); resp.StatusCode != http.StatusPartialContent {
		t.Fatalf("If-Range with the current ETag: %d, want 206", resp.StatusCode)
	}
	// The third request meets the new version: a stale If-Range gets it whole.
	resp, got = getIfRange(t, srv.URL+"/strong", "bytes=600-899", etag)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("ETag") == etag || !bytes.Equal(got, v2) {
		t.Fatalf("stale If-Range: %d, ETag %s (was %s), %d bytes; want 200 with the new version", resp.StatusCode, resp.Header.Get("ETag"), etag, len(got))
	}
	if s := o.Stats("/strong"); s.Capped != 1 || s.StaleIfRange != 1 {
		t.Fatalf("stats = %+v, want 1 capped range and 1 stale If-Range", s)
	}
	if r := o.Requests("/strong"); r[2].IfRange != etag {
		t.Fatalf("recorded If-Range %q, want %q", r[2].IfRange, etag)
	}

	// A weak ETag never satisfies If-Range; Last-Modified does, exactly.
	resp, _ = get(t, srv.URL+"/weak", "")
	if weak := resp.Header.Get("ETag"); !strings.HasPrefix(weak, `W/"`) {
		t.Fatalf("weak ETag = %q", weak)
	} else if resp, _ := getIfRange(t, srv.URL+"/weak", "bytes=0-9", weak); resp.StatusCode != http.StatusOK {
		t.Fatalf("If-Range with a weak ETag: %d, want 200", resp.StatusCode)
	}
	resp, _ = get(t, srv.URL+"/dated", "")
	if resp.Header.Get("ETag") != "" || resp.Header.Get("Last-Modified") != modified.Format(http.TimeFormat) {
		t.Fatalf("dated file headers: ETag %q, Last-Modified %q", resp.Header.Get("ETag"), resp.Header.Get("Last-Modified"))
	}
	if resp, _ := getIfRange(t, srv.URL+"/dated", "bytes=0-9", modified.Format(http.TimeFormat)); resp.StatusCode != http.StatusPartialContent {
		t.Fatalf("If-Range with the Last-Modified date: %d, want 206", resp.StatusCode)
	}
	if resp, _ := getIfRange(t, srv.URL+"/dated", "bytes=0-9", modified.Add(time.Second).Format(http.TimeFormat)); resp.StatusCode != http.StatusOK {
		t.Fatalf("If-Range with another date: %d, want 200", resp.StatusCode)
	}

	// A broken cache serves the range of the new version anyway.
	resp, _ = get(t, srv.URL+"/broken", "bytes=0-9")
	resp, got = getIfRange(t, srv.URL+"/broken", "bytes=0-9", resp.Header.Get("ETag"))
	if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(got, v2[:10]) {
		t.Fatalf("IgnoreIfRange: %d, %d bytes; want the new version's range", resp.StatusCode, len(got))
	}
}

func TestPaddedThumbnailIsAWholePNG(t *testing.T) {
	for _, size := range []int{400, 64 << 10, 2 << 20} {
		p := PaddedThumbnail("pad", size)
		st, err := mediacheck.Check(bytes.NewReader(p), int64(len(p)))
		if len(p) != size || err != nil || st.Format != "png" {
			t.Fatalf("PaddedThumbnail(%d): %d bytes, %+v, %v", size, len(p), st, err)
		}
		if _, err := png.Decode(bytes.NewReader(p)); err != nil {
			t.Fatalf("PaddedThumbnail(%d) does not decode: %v", size, err)
		}
	}
}

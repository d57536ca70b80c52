package mediaorigin

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

func get(t *testing.T, url, rangeHeader string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if rangeHeader != "" {
		req.Header.Set("Range", rangeHeader)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
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
	if s := o.Stats("/f"); s.Requests != 3 || s.Cut != 1 || s.Completed != 1 {
		t.Fatalf("stats = %+v", s)
	}
}

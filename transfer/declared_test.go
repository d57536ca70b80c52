package transfer_test

import (
	"bytes"
	"compress/gzip"
	"crypto/md5"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/wochit-ingest/wochit-ingest/contract"

	"github.com/wochit-ingest/wochit-ingest/devstack/mediaorigin"
)

// serveWith serves body at every path with the given extra headers, whole
// (no ranges), and records the Accept-Encoding each request sent.
func serveWith(t *testing.T, contentType string, body []byte, header http.Header) (url string, acceptEncoding *[]string) {
	t.Helper()
	var seen []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = append(seen, r.Header.Get("Accept-Encoding"))
		for k, vs := range header {
			w.Header()[k] = vs
		}
		w.Header().Set("Content-Type", contentType)
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		_, _ = w.Write(body)
	}))
	t.Cleanup(srv.Close)
	return srv.URL, &seen
}

// An origin that answers with a Content-Encoding is refused with a final
// UnsupportedContentType naming it, and nothing is stored: bytes are stored
// as served, and encoded ones are not the file. The worker asks for
// identity. The same file without the header (or with "identity") is
// stored. A mislabelled plain video shows it is the header that is
// refused, not what the bytes look like.
func TestTransferRefusesContentEncoding(t *testing.T) {
	e := newEnv(t)
	video := mediaorigin.Video("encoded", 64<<10)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, _ = zw.Write(video)
	_ = zw.Close()
	for i, tt := range []struct {
		encoding string
		body     []byte
		refused  bool
	}{
		{"gzip", gz.Bytes(), true},
		{"br", video, true}, // plain bytes, labelled as encoded
		{"identity", video, false},
		{"", video, false},
	} {
		header := http.Header{}
		if tt.encoding != "" {
			header.Set("Content-Encoding", tt.encoding)
		}
		url, accept := serveWith(t, "video/mp4", tt.body, header)
		id := "encoding-" + strconv.Itoa(i)
		_, err := e.copyFile(input{kind: contract.KindVideo, url: url + "/v.mp4", id: id})
		if got := strings.Join(*accept, ","); got != "identity" {
			t.Errorf("%q: the worker sent Accept-Encoding %q, want identity", tt.encoding, got)
		}
		if !tt.refused {
			if err != nil {
				t.Fatalf("Content-Encoding %q: %v, want the video stored", tt.encoding, err)
			}
			e.assertStored(t, "videos/"+id+"/video.mp4", video)
			continue
		}
		if err == nil {
			t.Fatalf("Content-Encoding %q: stored, want it refused", tt.encoding)
		}
		if reason, final := reasonOf(t, err); reason != contract.UnsupportedContentType || !final || !strings.Contains(err.Error(), "Content-Encoding") {
			t.Errorf("Content-Encoding %q: %v (%s, final=%v), want a final %s naming Content-Encoding", tt.encoding, err, reason, final, contract.UnsupportedContentType)
		}
		if objs := e.objects(t, "videos/"+id+"/"); len(objs) != 0 {
			t.Errorf("Content-Encoding %q: objects stored: %v", tt.encoding, objs)
		}
	}
}

// An origin's Content-MD5 (RFC 1864, what origins other than GCS declare) is
// checked against the bytes read, on the small-file path (a thumbnail, read
// whole before its upload) and the single stream (a video larger than one
// upload chunk, no ranges): a wrong one fails IntegrityMismatch and stores
// nothing, a right one stores the file, and its MD5 is the one reported.
func TestTransferChecksTheDeclaredContentMD5(t *testing.T) {
	e := newEnv(t)
	thumbnail := mediaorigin.Thumbnail("md5", 32, 32)
	video := mediaorigin.Video("md5", 600<<10) // over the fixture's 256 KiB chunk
	md5Header := func(b []byte) http.Header {
		sum := md5.Sum(b)
		return http.Header{"Content-Md5": {base64.StdEncoding.EncodeToString(sum[:])}}
	}
	for _, tt := range []struct {
		name        string
		kind        contract.AssetKind
		contentType string
		body        []byte
	}{
		{"thumbnail", contract.KindThumbnail, "image/png", thumbnail},
		{"video", contract.KindVideo, "video/mp4", video},
	} {
		t.Run(tt.name, func(t *testing.T) {
			wrong := bytes.Clone(tt.body)
			wrong[len(wrong)-1] ^= 1
			url, _ := serveWith(t, tt.contentType, tt.body, md5Header(wrong))
			_, err := e.copyFile(input{kind: tt.kind, url: url + "/f", id: "md5-wrong-" + tt.name})
			if err == nil {
				t.Fatal("stored despite a wrong Content-MD5")
			}
			if reason, _ := reasonOf(t, err); reason != contract.IntegrityMismatch {
				t.Fatalf("error = %v (%s), want %s", err, reason, contract.IntegrityMismatch)
			}
			if objs := e.objects(t, "videos/md5-wrong-"+tt.name+"/"); len(objs) != 0 {
				t.Fatalf("objects stored: %v", objs)
			}

			url, _ = serveWith(t, tt.contentType, tt.body, md5Header(tt.body))
			res, err := e.copyFile(input{kind: tt.kind, url: url + "/f", id: "md5-right-" + tt.name})
			if err != nil {
				t.Fatalf("with the right Content-MD5: %v", err)
			}
			e.assertStored(t, res.Object.Name, tt.body)
			if res.Object.MD5 != md5Of(tt.body) {
				t.Errorf("reported MD5 %s, want %s", res.Object.MD5, md5Of(tt.body))
			}
		})
	}
}

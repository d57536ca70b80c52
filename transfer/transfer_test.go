package transfer_test

import (
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/wochit-ingest/wochit-ingest/contract"

	"cloud.google.com/go/storage"

	"github.com/wochit-ingest/wochit-ingest/devstack/mediaorigin"
	"github.com/wochit-ingest/wochit-ingest/internal/safehttp"
)

func TestTransferStoresExactBytesAndRecordsChecksums(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name        string
		kind        contract.AssetKind
		path        string
		body        []byte
		contentType string
		wantName    string
	}{
		// 5 MiB with a 256 KiB chunk size: a multi-request resumable upload.
		{"video, multi-chunk", contract.KindVideo, "/v/clip.mp4", mediaorigin.Video("a", 5<<20+123), "video/mp4", "videos/vid-1/video.mp4"},
		// Small: a single-request upload; no extension in the URL, so it
		// comes from the content type.
		{"thumbnail, single request", contract.KindThumbnail, "/thumb", mediaorigin.Thumbnail("a", 64, 64), "image/png", "videos/vid-1/thumbnail.png"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.origin.Put(tt.path, mediaorigin.File{Body: tt.body, ContentType: tt.contentType})
			res, err := e.copyFile(input{
				kind: tt.kind, url: e.originURL + tt.path + "?token=s3cr3t&expires=1",
				id: "vid-1", videoContext: "user-42",
			})
			if err != nil {
				t.Fatal(err)
			}
			if got := sha(readObject(t, e.bucket, tt.wantName)); got != sha(tt.body) {
				t.Fatalf("stored bytes differ from the origin's (sha256 %x, want %x)", got, sha(tt.body))
			}
			want := contract.StoredObject{
				Bucket: "b", Name: tt.wantName, URI: "gs://b/" + tt.wantName,
				Size: int64(len(tt.body)), ContentType: tt.contentType, CRC32C: crc32cOf(tt.body), MD5: md5Of(tt.body),
			}
			got := res.Object
			got.Media = nil // transfer's TestCopyDescribesTheStoredVideo checks it
			if got != want {
				t.Errorf("result object = %+v, want %+v", res.Object, want)
			}
			meta := e.objectAttrs(t, tt.wantName).Metadata
			for k, v := range map[string]string{
				"wochitVideoId": "vid-1", "videoContext": "user-42", "sourceUrl": e.originURL + tt.path,
				"kind": string(tt.kind), "crc32c": want.CRC32C, "md5": want.MD5, "size": itoa(len(tt.body)),
			} {
				if meta[k] != v {
					t.Errorf("metadata %s = %q, want %q", k, meta[k], v)
				}
			}
			for k, v := range meta {
				if strings.Contains(v, "s3cr3t") {
					t.Errorf("metadata %s leaks the signed-URL token: %q", k, v)
				}
			}
		})
	}
}

func TestTransferCutBodyLeavesNoObject(t *testing.T) {
	for _, noLength := range []bool{false, true} {
		name := "with Content-Length"
		if noLength {
			name = "chunked, no Content-Length"
		}
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			body := mediaorigin.Video("cut", 3<<20)
			e.origin.Put("/v.mp4", mediaorigin.File{Body: body, ContentType: "video/mp4", NoLength: noLength, CutAfter: 1 << 20, CutTimes: 1})
			in := input{kind: contract.KindVideo, url: e.originURL + "/v.mp4", id: "cut-1"}

			_, err := e.copyFile(in)
			if stats := e.origin.Stats("/v.mp4"); stats.Cut != 1 || stats.BytesSent != 1<<20 {
				t.Fatalf("origin did not cut the connection as planned: %+v", stats)
			}
			if errType, nonRetryable := reasonOf(t, err); errType != contract.IncompleteBody || nonRetryable {
				t.Fatalf("error = %v (%s, nonRetryable=%v), want a retryable %s", err, errType, nonRetryable, contract.IncompleteBody)
			}
			if objs := e.objects(t, "videos/cut-1/"); len(objs) != 0 {
				t.Fatalf("a cut transfer left objects behind: %v", objs)
			}

			// The retry gets the whole body and stores exactly it.
			res, err := e.copyFile(in)
			if err != nil {
				t.Fatal(err)
			}
			if got := sha(readObject(t, e.bucket, res.Object.Name)); got != sha(body) {
				t.Fatal("bytes stored by the retry differ from the origin's")
			}
		})
	}
}

func TestTransferRepeatedRunReusesStoredObject(t *testing.T) {
	e := newEnv(t)
	body := mediaorigin.Video("again", 1<<20)
	e.origin.Put("/v.mp4", mediaorigin.File{Body: body, ContentType: "video/mp4"})
	in := input{kind: contract.KindVideo, url: e.originURL + "/v.mp4", id: "again-1"}

	first, err := e.copyFile(in)
	if err != nil {
		t.Fatal(err)
	}
	gen := e.objectAttrs(t, first.Object.Name).Generation
	second, err := e.copyFile(in)
	if err != nil {
		t.Fatal(err)
	}
	if !second.Reused || !reflect.DeepEqual(second.Object, first.Object) {
		t.Fatalf("second run = %+v, want the first run's object reused (%+v)", second, first.Object)
	}
	if got := e.objectAttrs(t, first.Object.Name).Generation; got != gen {
		t.Fatalf("generation changed from %d to %d: the object was written twice", gen, got)
	}
	if n := e.origin.Stats("/v.mp4").Requests; n != 1 {
		t.Fatalf("origin saw %d requests, want 1 (no second download)", n)
	}
}

// A concurrent attempt (say, one whose heartbeat timed out but which kept
// running) finalizes the object while this attempt streams: the DoesNotExist
// precondition fails with 412 and the attempt accepts the object if, and
// only if, its metadata shows it is ours.
func TestTransferPreconditionFailure(t *testing.T) {
	for _, tt := range []struct {
		name       string
		ownerID    string // wochitVideoId the concurrent writer records
		wantReused bool
		size       int // above the fixture's 256 KiB chunk: streamed; below: read first
	}{
		{"streamed, same video and source: accepted", "race-1", true, 512 << 10},
		{"streamed, someone else's object: conflict", "other-video", false, 512 << 10},
		{"small, same video and source: accepted", "race-1", true, 100 << 10},
		{"small, someone else's object: conflict", "other-video", false, 100 << 10},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			body := mediaorigin.Video("race", tt.size)
			e.origin.Put("/v.mp4", mediaorigin.File{Body: body, ContentType: "video/mp4"})
			const name = "videos/race-1/video.mp4"
			var concurrentGen int64
			// This origin lets a concurrent writer store the object after our
			// attempt has checked for it, then serves the body.
			racing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				cw := e.bucket.Object(name).If(storage.Conditions{DoesNotExist: true}).NewWriter(r.Context())
				cw.ContentType = "video/mp4"
				cw.Metadata = map[string]string{"wochitVideoId": tt.ownerID, "sourceUrl": "http://" + r.Host + r.URL.Path}
				if _, err := cw.Write(body); err != nil {
					t.Errorf("concurrent writer: %v", err)
				}
				if err := cw.Close(); err != nil {
					t.Errorf("concurrent writer: %v", err)
				}
				concurrentGen = cw.Attrs().Generation
				e.origin.ServeHTTP(w, r)
			}))
			defer racing.Close()

			res, err := e.copyFile(input{kind: contract.KindVideo, url: racing.URL + "/v.mp4?sig=x", id: "race-1"})
			if concurrentGen == 0 {
				t.Fatal("the concurrent writer did not store the object")
			}
			if uploads, _, _ := e.proxy.counts(); uploads == 0 {
				t.Fatal("the attempt did not stream the body to GCS before finalizing")
			}
			if tt.wantReused {
				if err != nil {
					t.Fatalf("attempt failed: %v", err)
				}
				if !res.Reused || res.Object.Name != name || res.Object.CRC32C != crc32cOf(body) {
					t.Fatalf("result = %+v, want the concurrent object reused", res)
				}
			} else {
				if errType, nonRetryable := reasonOf(t, err); errType != contract.ObjectConflict || !nonRetryable {
					t.Fatalf("error = %v, want a non-retryable %s", err, contract.ObjectConflict)
				}
			}
			if got := e.objectAttrs(t, name).Generation; got != concurrentGen {
				t.Fatalf("object generation = %d, want the concurrent writer's %d (no second generation)", got, concurrentGen)
			}
		})
	}
}

func TestTransferOriginStatuses(t *testing.T) {
	tests := []struct {
		status       int
		wantType     contract.Reason
		nonRetryable bool
	}{
		{http.StatusNotFound, contract.OriginNotFound, true},
		{http.StatusGone, contract.LinkExpired, true},
		{http.StatusInternalServerError, contract.OriginUnavailable, false},
		{http.StatusServiceUnavailable, contract.OriginUnavailable, false},
	}
	for _, tt := range tests {
		t.Run(http.StatusText(tt.status), func(t *testing.T) {
			e := newEnv(t)
			e.origin.Put("/v.mp4", mediaorigin.File{Body: []byte("x"), Statuses: []int{tt.status}})
			_, err := e.copyFile(input{kind: contract.KindVideo, url: e.originURL + "/v.mp4", id: "st-1"})
			errType, nonRetryable := reasonOf(t, err)
			if errType != tt.wantType || nonRetryable != tt.nonRetryable {
				t.Fatalf("error = %v (%s, nonRetryable=%v), want %s nonRetryable=%v", err, errType, nonRetryable, tt.wantType, tt.nonRetryable)
			}
			if objs := e.objects(t, "videos/st-1/"); len(objs) != 0 {
				t.Fatalf("objects left behind: %v", objs)
			}
		})
	}
}

func TestTransferRefusesPrivateDestinations(t *testing.T) {
	e := newEnv(t)
	e.origin.Put("/v.mp4", mediaorigin.File{Body: []byte("secret"), ContentType: "video/mp4"})
	e.http = safehttp.NewClient(safehttp.Policy{}, safehttp.ClientOptions{MaxRedirects: 3})

	_, err := e.copyFile(input{kind: contract.KindVideo, url: e.originURL + "/v.mp4", id: "ssrf-1"})
	if errType, nonRetryable := reasonOf(t, err); errType != contract.BlockedDestination || !nonRetryable {
		t.Fatalf("error = %v, want a non-retryable %s", err, contract.BlockedDestination)
	}
	if n := e.origin.Stats("/v.mp4").Requests; n != 0 {
		t.Fatalf("the loopback origin received %d requests, want 0", n)
	}
}

func TestTransferFailsWhenOriginStalls(t *testing.T) {
	e := newEnv(t)
	hold := make(chan struct{})
	defer close(hold)
	e.origin.Put("/v.mp4", mediaorigin.File{Body: []byte("never"), Hold: hold})
	e.opts.IdleTimeout = 300 * time.Millisecond

	_, err := e.copyFile(input{kind: contract.KindVideo, url: e.originURL + "/v.mp4", id: "idle-1"})
	if errType, nonRetryable := reasonOf(t, err); errType != contract.OriginUnavailable || nonRetryable {
		t.Fatalf("error = %v, want a retryable %s", err, contract.OriginUnavailable)
	}
	if !strings.Contains(err.Error(), "sent nothing") {
		t.Fatalf("error %q does not say the origin stalled", err)
	}
}

// After the links' deadline the workflow asks only for a stored copy: it is
// reused when an earlier run stored it, and the origin is never contacted
// either way.
func TestTransferReuseOnly(t *testing.T) {
	e := newEnv(t)
	body := mediaorigin.Video("reuse", 1<<20)
	e.origin.Put("/v.mp4", mediaorigin.File{Body: body, ContentType: "video/mp4"})
	e.origin.Put("/never.mp4", mediaorigin.File{Body: body, ContentType: "video/mp4"})
	stored, err := e.copyFile(input{kind: contract.KindVideo, url: e.originURL + "/v.mp4", id: "reuse-1"})
	if err != nil {
		t.Fatal(err)
	}

	got, err := e.copyFile(input{kind: contract.KindVideo, url: e.originURL + "/v.mp4", id: "reuse-1", reuseOnly: true})
	if err != nil {
		t.Fatalf("reuse-only with a stored copy: %v", err)
	}
	if !got.Reused || !reflect.DeepEqual(got.Object, stored.Object) {
		t.Fatalf("reuse-only = %+v, want the stored object %+v reused", got, stored.Object)
	}
	if n := e.origin.Stats("/v.mp4").Requests; n != 1 {
		t.Fatalf("origin saw %d requests for the stored file, want 1 (the first download only)", n)
	}

	_, err = e.copyFile(input{kind: contract.KindVideo, url: e.originURL + "/never.mp4", id: "reuse-2", reuseOnly: true})
	if errType, nonRetryable := reasonOf(t, err); errType != contract.LinkExpired || !nonRetryable {
		t.Fatalf("reuse-only without a stored copy failed with %s (non-retryable %v), want non-retryable %s", errType, nonRetryable, contract.LinkExpired)
	}
	if n := e.origin.Stats("/never.mp4").Requests; n != 0 {
		t.Fatalf("origin saw %d requests, want none", n)
	}
	if names := e.objects(t, "videos/reuse-2/"); len(names) != 0 {
		t.Fatalf("objects %v appeared", names)
	}
}

package transfer_test

import (
	"context"
	"crypto/md5"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/wochit-ingest/wochit-ingest/contract"

	"github.com/wochit-ingest/wochit-ingest/devstack/mediaorigin"
	"github.com/wochit-ingest/wochit-ingest/internal/crc32c"
	"github.com/wochit-ingest/wochit-ingest/transfer"
)

// Copy reports its progress as bytes arrive — never going back, ending
// with the whole file — and returns the stored object's size and CRC32C,
// in one stream and in parts.
func TestCopyReportsProgressAndResult(t *testing.T) {
	body := mediaorigin.Video("engine", 3<<20+17)
	for _, tt := range []struct {
		name      string
		file      mediaorigin.File
		wantParts int
	}{
		{"one stream", mediaorigin.File{Body: body, ContentType: "video/mp4", NoRanges: true, BytesPerSecond: 12 << 20}, 0},
		{"in parts", mediaorigin.File{Body: body, ContentType: "video/mp4", BytesPerSecond: 4 << 20}, 4},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			e.origin.Put("/clip.mp4", tt.file)
			var log progressLog
			res, err := transfer.Copy(context.Background(),
				transfer.Source{URL: e.originURL + "/clip.mp4?token=s3cr3t", HTTP: e.http, Attempt: 1},
				transfer.Destination{Bucket: e.bucket, Prefix: "videos/", WochitVideoID: "v1", Kind: contract.KindVideo},
				transfer.Options{ChunkSize: 256 << 10, PartSize: 1 << 20, Progress: log.add, ProgressInterval: 10 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			want := contract.StoredObject{Bucket: "b", Name: "videos/v1/video.mp4", URI: "gs://b/videos/v1/video.mp4",
				Size: int64(len(body)), ContentType: "video/mp4", CRC32C: crc32c.Encode(crc32c.Checksum(body))}
			if tt.wantParts == 0 {
				sum := md5.Sum(body) // composite objects have none
				want.MD5 = base64.StdEncoding.EncodeToString(sum[:])
			}
			got := res.Object
			got.Media = nil // TestCopyDescribesTheStoredVideo
			if got != want || res.Parts != tt.wantParts || res.Reused {
				t.Fatalf("result = %+v, want %+v in %d parts, not reused", res, want, tt.wantParts)
			}

			reports := log.reports()
			var rising int
			for i := 1; i < len(reports); i++ {
				switch prev, p := reports[i-1], reports[i]; {
				case p.Bytes < prev.Bytes:
					t.Fatalf("progress went back from %d to %d bytes: %+v", prev.Bytes, p.Bytes, reports)
				case p.Bytes > prev.Bytes:
					rising++
				}
			}
			last := reports[len(reports)-1]
			if rising < 2 || last.Bytes != int64(len(body)) || last.Total != int64(len(body)) || last.Kind != contract.KindVideo {
				t.Fatalf("%d reports rising %d times, the last %+v; want bytes rising to %d", len(reports), rising, last, len(body))
			}
			if tt.wantParts > 0 && (len(last.Parts) != tt.wantParts || last.PartSize != 1<<20 || last.Validator == "") {
				t.Fatalf("last progress of a copy in parts = %+v; want its %d parts, part size and validator", last, tt.wantParts)
			}
		})
	}
}

// Failures are *transfer.Error values typed with a contract.Reason, with
// whether another attempt could succeed and the origin's Retry-After; their
// messages never quote the signed URL's query string.
func TestCopyFailuresAreTyped(t *testing.T) {
	for _, tt := range []struct {
		name       string
		file       mediaorigin.File
		reason     contract.Reason
		final      bool
		retryAfter time.Duration
	}{
		{"404", mediaorigin.File{Statuses: []int{404}}, contract.OriginNotFound, true, 0},
		{"503 with Retry-After", mediaorigin.File{Statuses: []int{503}, RetryAfter: "7"}, contract.OriginUnavailable, false, 7 * time.Second},
		// Retried a couple of times first: TestHTMLPageIsRetriedTwice.
		{"an HTML page", mediaorigin.File{Body: []byte("<html>denied</html>"), ContentType: "text/html"}, contract.OriginMisbehaved, false, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			e.origin.Put("/f", tt.file)
			_, err := transfer.Copy(context.Background(),
				transfer.Source{URL: e.originURL + "/f?token=s3cr3t", HTTP: e.http, Attempt: 1},
				transfer.Destination{Bucket: e.bucket, Prefix: "videos/", WochitVideoID: "v1", Kind: contract.KindVideo},
				transfer.Options{})
			var terr *transfer.Error
			if !errors.As(err, &terr) {
				t.Fatalf("error %v (%T) is not a *transfer.Error", err, err)
			}
			if terr.Reason != tt.reason || terr.Final != tt.final || terr.RetryAfter != tt.retryAfter {
				t.Fatalf("error = %v (%s, final %v, retry after %s); want %s, final %v, retry after %s",
					err, terr.Reason, terr.Final, terr.RetryAfter, tt.reason, tt.final, tt.retryAfter)
			}
			if strings.Contains(err.Error(), "s3cr3t") {
				t.Fatalf("the message quotes the signed URL's token: %v", err)
			}
		})
	}
}

// A stored video's callback carries what a player needs, read from the
// stored object's moov whatever path copied it (and when an earlier attempt
// had stored it); other files and unreadable metadata carry none, and never
// fail the copy.
func TestCopyDescribesTheStoredVideo(t *testing.T) {
	yes, no := true, false
	hd := mediaorigin.VideoWith("hd", 3<<20, mediaorigin.VideoOptions{FastStart: true, Width: 1280, Height: 720, Duration: 2 * time.Second})
	tail := mediaorigin.VideoWith("tail", 3<<20, mediaorigin.VideoOptions{Width: 640, Height: 360, Duration: 4 * time.Second})
	for _, tt := range []struct {
		name string
		kind contract.AssetKind
		file mediaorigin.File
		want *contract.Media
	}{
		{"fast start, in parts", contract.KindVideo, mediaorigin.File{Body: hd, ContentType: "video/mp4"},
			&contract.Media{DurationMillis: 2000, Width: 1280, Height: 720, Codec: "avc1.4D401F", FastStart: &yes}},
		{"moov at the end, one stream", contract.KindVideo, mediaorigin.File{Body: tail, ContentType: "video/mp4", NoRanges: true},
			&contract.Media{DurationMillis: 4000, Width: 640, Height: 360, Codec: "avc1.4D401E", FastStart: &no}},
		{"WebM", contract.KindVideo, mediaorigin.File{Body: mediaorigin.WebM("w", 300<<10), ContentType: "video/webm", NoRanges: true}, nil},
		{"a thumbnail", contract.KindThumbnail, mediaorigin.File{Body: mediaorigin.Thumbnail("t", 16, 9), ContentType: "image/png"}, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			e.origin.Put("/f", tt.file)
			copyOnce := func() transfer.Result {
				res, err := transfer.Copy(context.Background(),
					transfer.Source{URL: e.originURL + "/f", HTTP: e.http, Attempt: 1},
					transfer.Destination{Bucket: e.bucket, Prefix: "videos/", WochitVideoID: "m1", Kind: tt.kind},
					transfer.Options{ChunkSize: 256 << 10, PartSize: 1 << 20})
				if err != nil {
					t.Fatal(err)
				}
				return res
			}
			for _, res := range []transfer.Result{copyOnce(), copyOnce()} {
				got := res.Object.Media
				if (got == nil) != (tt.want == nil) || got != nil && (got.DurationMillis != tt.want.DurationMillis || got.Width != tt.want.Width ||
					got.Height != tt.want.Height || got.Codec != tt.want.Codec || got.FastStart == nil || *got.FastStart != *tt.want.FastStart) {
					t.Fatalf("reused %v: media = %+v, want %+v", res.Reused, got, tt.want)
				}
			}
		})
	}
}

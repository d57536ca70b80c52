package transfer_test

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/wochit-ingest/wochit-ingest/contract"

	"github.com/wochit-ingest/wochit-ingest/devstack/mediaorigin"
)

// Parts fetched at different times, maybe by different attempts, are only
// one file if they are of one version. Parts need a strong validator, sent
// as If-Range with every part request; without one the file is copied in
// one stream.
func TestPartsNeedAStrongValidator(t *testing.T) {
	modified := time.Date(2026, 11, 28, 9, 30, 0, 0, time.UTC)
	tests := []struct {
		name        string
		file        mediaorigin.File
		wantParts   bool
		wantIfRange string // "" means the origin's ETag
	}{
		{"strong ETag", mediaorigin.File{}, true, ""},
		{"Last-Modified, no ETag", mediaorigin.File{NoETag: true, LastModified: modified}, true, modified.Format(http.TimeFormat)},
		{"weak ETag", mediaorigin.File{WeakETag: true}, false, ""},
		{"weak ETag and Last-Modified", mediaorigin.File{WeakETag: true, LastModified: modified}, true, modified.Format(http.TimeFormat)},
		{"no validator", mediaorigin.File{NoETag: true}, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			e.opts.PartSize = 256 << 10
			body := mediaorigin.Video("validators", 1<<20+5)
			file := tt.file
			file.Body, file.ContentType = body, "video/mp4"
			e.origin.Put("/v.mp4", file)

			res, err := e.copyFile(e.input(contract.KindVideo, "/v.mp4", "val"))
			if err != nil {
				t.Fatal(err)
			}
			e.assertStored(t, res.Object.Name, body)
			reqs := e.origin.Requests("/v.mp4")
			if !tt.wantParts {
				if res.Parts != 0 || len(reqs) != 2 || reqs[1].Range != "" {
					t.Fatalf("parts = %d, requests %+v; want one stream: the probe, then one plain GET", res.Parts, reqs)
				}
				return
			}
			if res.Parts != 5 {
				t.Fatalf("parts = %d, want 5", res.Parts)
			}
			want := tt.wantIfRange
			if want == "" {
				want = etagOf(t, e, "/v.mp4")
			}
			for _, r := range reqs[1:] {
				if r.IfRange != want {
					t.Errorf("part request %s sent If-Range %q, want %q", r.Range, r.IfRange, want)
				}
			}
		})
	}
}

// etagOf is the ETag the origin serves path with.
func etagOf(t *testing.T, e *env, path string) string {
	t.Helper()
	resp, err := http.Head(e.originURL + path)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.Header.Get("ETag")
}

// An origin without a strong validator changes the file between two
// attempts (an encoder finishing it, a CDN refreshing it). The stored object
// is one version or the other, never parts of both.
func TestFileWithoutValidatorChangingBetweenAttemptsIsNeverMixed(t *testing.T) {
	for _, tt := range []struct {
		name string
		file mediaorigin.File
	}{
		{"no ETag", mediaorigin.File{NoETag: true}},
		{"weak ETag", mediaorigin.File{ETag: `"same"`, WeakETag: true}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			e.opts.PartSize = 256 << 10
			e.opts.PartConcurrency = 1
			v1, v2 := mediaorigin.Video("version-1", 1<<20+5), mediaorigin.Video("version-2", 1<<20+5)
			file := tt.file
			file.Body, file.ContentType = v1, "video/mp4"
			// The fourth request fails, often enough to fail an attempt that
			// reaches it in parts; then the file changes.
			file.Statuses = []int{0, 0, 0, 503, 503, 503}
			next := tt.file
			next.Body, next.ContentType = v2, "video/mp4"
			file.Then, file.ThenAfter = &next, 6
			e.origin.Put("/v.mp4", file)

			res, errs := e.attempts(e.input(contract.KindVideo, "/v.mp4", "mix"), 5)
			if len(errs) == 5 {
				t.Fatalf("no attempt succeeded: %v", errs)
			}
			got := readObject(t, e.bucket, res.Object.Name)
			if !bytes.Equal(got, v1) && !bytes.Equal(got, v2) {
				t.Fatalf("the stored object (%d bytes) is neither version: parts of two versions were composed", len(got))
			}
			if res.Parts != 0 {
				t.Fatalf("parts = %d; without a strong validator the file must be copied in one stream", res.Parts)
			}
		})
	}
}

// The file changes in the middle of a parted transfer. Whether the origin
// honours If-Range (answering 200 with the new version) or not (answering
// the range of the new version with its other ETag, or other content
// headers), the attempt fails retryably, the parts of the old version are
// dropped, and the next attempt stores exactly the new version.
func TestFileChangingMidTransferDropsItsParts(t *testing.T) {
	v1, v2 := mediaorigin.Video("before", 1<<20+5), mediaorigin.Video("after", 1<<20+5)
	tests := []struct {
		name      string
		now, then mediaorigin.File
		wantStale int // requests whose If-Range the origin found stale
	}{
		{"If-Range honoured: 200", mediaorigin.File{}, mediaorigin.File{}, 1},
		{"If-Range ignored: another ETag", mediaorigin.File{IgnoreIfRange: true}, mediaorigin.File{IgnoreIfRange: true}, 1},
		{"same ETag, another Content-Type", mediaorigin.File{ETag: `"v"`}, mediaorigin.File{ETag: `"v"`, ContentType: "video/quicktime"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			e.opts.PartSize = 256 << 10
			e.opts.PartConcurrency = 1
			now, then := tt.now, tt.then
			now.Body, now.ContentType = v1, "video/mp4"
			then.Body = v2
			if then.ContentType == "" {
				then.ContentType = "video/mp4"
			}
			// The probe and parts 1 and 2 are of v1; part 3 meets v2.
			now.Then, now.ThenAfter = &then, 3
			e.origin.Put("/v.mp4", now)
			in := e.input(contract.KindVideo, "/v.mp4", "changed")

			_, err := e.copyFile(in)
			if s := e.origin.Stats("/v.mp4"); s.Requests != 4 || s.StaleIfRange != tt.wantStale {
				t.Fatalf("origin stats %+v; want 4 requests, the last meeting the new version, %d stale If-Range", s, tt.wantStale)
			}
			if typ, final := reasonOf(t, err); typ != contract.OriginMisbehaved || final || !strings.Contains(err.Error(), "changed") {
				t.Fatalf("error = %v, want a retryable %s saying the file changed", err, contract.OriginMisbehaved)
			}
			e.assertNothingLeft(t, "changed")
			last := e.lastProgress(t)
			if last.Validator != "" || last.PartSize != 0 || len(last.Parts) != 0 {
				t.Fatalf("the last progress %+v still offers the old version's parts to the next attempt", last)
			}

			e.opts.Resume = last
			res, err := e.copyFile(in)
			if err != nil {
				t.Fatal(err)
			}
			e.assertStored(t, res.Object.Name, v2)
			if res.Parts != 5 {
				t.Fatalf("the retry copied %d parts, want 5", res.Parts)
			}
		})
	}
}

// Some origins serve at most so many bytes per range request. Parts are
// planned from what the origin serves, or, when that is too little for
// parts, the file is copied in one stream.
func TestRangeCappedOrigins(t *testing.T) {
	body := mediaorigin.Video("capped", 1<<20+5)
	tests := []struct {
		name      string
		cap       int64
		wantParts int
	}{
		{"cap above the minimum part size: parts of the cap", 128 << 10, 9},
		{"cap below it: one stream", 32 << 10, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			e.opts.PartSize = 256 << 10
			e.opts.MinPartSize = 64 << 10
			e.origin.Put("/v.mp4", mediaorigin.File{Body: body, ContentType: "video/mp4", MaxRange: tt.cap})

			res, err := e.copyFile(e.input(contract.KindVideo, "/v.mp4", "cap"))
			if s := e.origin.Stats("/v.mp4"); s.Capped != 1 {
				t.Fatalf("the origin capped %d ranges, want 1 (the probe's)", s.Capped)
			}
			if err != nil {
				t.Fatal(err)
			}
			e.assertStored(t, res.Object.Name, body)
			if res.Parts != tt.wantParts {
				t.Fatalf("parts = %d, want %d", res.Parts, tt.wantParts)
			}
			if reqs := e.origin.Requests("/v.mp4"); tt.wantParts == 0 && (len(reqs) != 2 || reqs[1].Range != "") {
				t.Fatalf("requests %+v; want the probe, then one plain GET", reqs)
			}
		})
	}
}

// An origin that starts capping ranges in the middle of a transfer fails
// the attempt's plan; the next attempt plans anew from what it serves, and
// finishes.
func TestOriginCappingRangesMidTransferIsReplanned(t *testing.T) {
	e := newEnv(t)
	e.opts.PartSize = 256 << 10
	e.opts.PartConcurrency = 1
	e.opts.MinPartSize = 64 << 10
	body := mediaorigin.Video("recap", 1<<20+5)
	capped := mediaorigin.File{Body: body, ContentType: "video/mp4", MaxRange: 128 << 10}
	e.origin.Put("/v.mp4", mediaorigin.File{Body: body, ContentType: "video/mp4", Then: &capped, ThenAfter: 2})
	in := e.input(contract.KindVideo, "/v.mp4", "recap")

	_, err := e.copyFile(in)
	if s := e.origin.Stats("/v.mp4"); s.Capped != 1 || s.Requests != 3 {
		t.Fatalf("origin stats %+v; want the third request capped and no more", s)
	}
	if typ, final := reasonOf(t, err); typ != contract.OriginMisbehaved || final {
		t.Fatalf("error = %v, want a retryable %s", err, contract.OriginMisbehaved)
	}
	last := e.lastProgress(t)
	if last.PartSize != 0 || last.Validator != "" {
		t.Fatalf("the last progress %+v still asks the next attempt to resume in 256 KiB parts", last)
	}

	e.opts.Resume = last
	res, err := e.copyFile(in)
	if err != nil {
		t.Fatal(err)
	}
	e.assertStored(t, res.Object.Name, body)
	if res.Parts != 9 {
		t.Fatalf("the retry copied %d parts, want 9 of 128 KiB", res.Parts)
	}
}

package transfer_test

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/wochit-ingest/wochit-ingest/contract"

	"github.com/wochit-ingest/wochit-ingest/devstack/mediaorigin"
)

// mp4Boxes builds an MP4 from top-level boxes (type, payload length), with
// pseudo-random payloads: what an encoder has written so far, or a file
// whose boxes tile it but whose contents no parser would understand.
func mp4Boxes(seed string, boxes ...any) []byte {
	var b []byte
	random := mediaorigin.Video(seed, 1<<20)
	for i := 0; i < len(boxes); i += 2 {
		typ, n := boxes[i].(string), boxes[i+1].(int)
		b = binary.BigEndian.AppendUint32(b, uint32(8+n))
		b = append(b, typ...)
		if typ == "ftyp" {
			b = append(b, "isom\x00\x00\x02\x00isommp41"[:n]...)
			continue
		}
		for n > 0 {
			k := min(n, len(random))
			b = append(b, random[:k]...)
			n -= k
		}
	}
	return b
}

// An origin may serve a file its encoder has not finished. Whatever the
// copy path, it is never stored: the attempt fails retryably (the origin
// may still be finishing it), nothing remains in the bucket, and once the
// origin serves the whole file the next attempt stores it.
func TestUnfinishedFilesAreNeverStored(t *testing.T) {
	const size = 1<<20 + 5
	noMoov := mp4Boxes("no-moov", "ftyp", 16, "mdat", size-24-8) // tiles the file, but no moov
	webm := mediaorigin.WebM("webm", size+100)
	tests := []struct {
		name       string
		body       []byte
		file       mediaorigin.File
		chunk      int
		wantParts  bool // the parts were all copied before the check
		contentTyp string
	}{
		{"mdat declared past the end: refused before any part", mediaorigin.UnfinishedVideo("unfinished", size), mediaorigin.File{}, 256 << 10, false, "video/mp4"},
		{"no moov, in parts: checked before compose", noMoov, mediaorigin.File{}, 256 << 10, true, "video/mp4"},
		{"no moov, one stream", noMoov, mediaorigin.File{NoRanges: true}, 256 << 10, false, "video/mp4"},
		{"no moov, small file read whole", noMoov, mediaorigin.File{NoRanges: true}, 2 << 20, false, "video/mp4"},
		{"unfinished, size unknown", mediaorigin.UnfinishedVideo("unfinished", size), mediaorigin.File{NoRanges: true, NoLength: true}, 256 << 10, false, "video/mp4"},
		{"WebM cut short", webm[:size], mediaorigin.File{NoRanges: true}, 256 << 10, false, "video/webm"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			e.opts.PartSize = 256 << 10
			e.opts.ChunkSize = tt.chunk
			file := tt.file
			file.Body, file.ContentType = tt.body, tt.contentTyp
			e.origin.Put("/v", file)
			in := e.input(contract.KindVideo, "/v", "unfinished")

			_, err := e.copyFile(in)
			s := e.origin.Settled("/v")
			if s.Requests == 0 || s.BytesSent == 0 {
				t.Fatalf("the origin served nothing: %+v", s)
			}
			if tt.wantParts && s.Requests != 5 {
				t.Fatalf("the origin got %d requests, want the probe and all 4 other parts", s.Requests)
			}
			if !tt.wantParts && s.Requests > 1 && !tt.file.NoRanges {
				t.Fatalf("the origin got %d requests; the file should have been refused after the first", s.Requests)
			}
			if typ, final := reasonOf(t, err); typ != contract.IncompleteMedia || final {
				t.Fatalf("error = %v, want a retryable %s", err, contract.IncompleteMedia)
			}
			e.assertNothingLeft(t, "unfinished")

			whole := mediaorigin.Video("finished", size)
			e.origin.Put("/v", mediaorigin.File{Body: whole, ContentType: "video/mp4", NoRanges: tt.file.NoRanges})
			res, err := e.copyFile(in)
			if err != nil {
				t.Fatal(err)
			}
			e.assertStored(t, res.Object.Name, whole)
		})
	}
}

// A file that stays unfinished is retried for ten minutes from the attempt
// that first found it so, then fails for good.
func TestFileThatStaysUnfinishedFailsAfterTenMinutes(t *testing.T) {
	e := newEnv(t)
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	e.opts.Now = func() time.Time { return now }
	e.origin.Put("/v.mp4", mediaorigin.File{Body: mediaorigin.UnfinishedVideo("stuck", 300<<10), ContentType: "video/mp4"})
	in := e.input(contract.KindVideo, "/v.mp4", "stuck")

	for _, step := range []struct {
		after time.Duration
		final bool
	}{{0, false}, {5 * time.Minute, false}, {6 * time.Minute, true}} {
		now = now.Add(step.after)
		_, err := e.copyFile(in)
		if typ, final := reasonOf(t, err); typ != contract.IncompleteMedia || final != step.final {
			t.Fatalf("after %s more: error = %v, want %s with non-retryable %v", step.after, err, contract.IncompleteMedia, step.final)
		}
		last := e.lastProgress(t)
		if want := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC); !last.IncompleteSince.Equal(want) {
			t.Fatalf("the last progress says the file was first found unfinished at %s, want %s", last.IncompleteSince, want)
		}
		e.opts.Resume = last
	}
	if n := e.origin.Stats("/v.mp4").Requests; n != 3 {
		t.Fatalf("origin saw %d requests, want one per attempt", n)
	}
	e.assertNothingLeft(t, "stuck")
}

// Only the top-level structure is checked: a whole file whose metadata no
// parser would understand is stored, as is a whole WebM.
func TestWholeFilesWithUnreadableMetadataAreStored(t *testing.T) {
	garbled := mp4Boxes("garbled", "ftyp", 16, "mdat", 700<<10, "moov", 300<<10)
	for _, tt := range []struct {
		name        string
		body        []byte
		contentType string
		file        mediaorigin.File
	}{
		{"MP4 with a garbage moov, in parts", garbled, "video/mp4", mediaorigin.File{}},
		{"MP4 with a garbage moov, one stream", garbled, "video/mp4", mediaorigin.File{NoRanges: true}},
		{"WebM", mediaorigin.WebM("whole", 600<<10), "video/webm", mediaorigin.File{NoRanges: true}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			e.opts.PartSize = 256 << 10
			file := tt.file
			file.Body, file.ContentType = tt.body, tt.contentType
			e.origin.Put("/v", file)
			res, err := e.copyFile(e.input(contract.KindVideo, "/v", "garbled"))
			if err != nil {
				t.Fatal(err)
			}
			e.assertStored(t, res.Object.Name, tt.body)
		})
	}
}

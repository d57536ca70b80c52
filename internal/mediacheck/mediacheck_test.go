package mediacheck

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// result is a verdict in a form every entry point's can be compared in.
type result struct {
	S          Structure
	Err        string
	Incomplete bool
}

func resultOf(s Structure, err error) result {
	r := result{S: s}
	if err != nil {
		r.Err, r.Incomplete = err.Error(), IsIncomplete(err)
	}
	return r
}

func check(data []byte) result {
	return resultOf(Check(bytes.NewReader(data), int64(len(data))))
}

// scan writes data to a Scanner in the pieces split gives (stopping at the
// first error, as a copy would) and closes it.
func scan(data []byte, total int64, split func([]byte) [][]byte) result {
	s := NewScanner(total)
	for _, p := range split(data) {
		if n, err := s.Write(p); err != nil || n != len(p) {
			break
		}
	}
	return resultOf(s.Close())
}

func whole(b []byte) [][]byte { return [][]byte{b} }

func bytewise(b []byte) [][]byte {
	out := make([][]byte, len(b))
	for i := range b {
		out[i] = b[i : i+1]
	}
	return out
}

// verdict runs data through Check and through Scanners of known and unknown
// size fed whole and a byte at a time, and fails unless all agree.
func verdict(t *testing.T, data []byte) result {
	t.Helper()
	want := check(data)
	n := int64(len(data))
	for name, got := range map[string]result{
		"Scanner(size)":           scan(data, n, whole),
		"Scanner(-1)":             scan(data, -1, whole),
		"Scanner(size), bytewise": scan(data, n, bytewise),
		"Scanner(-1), bytewise":   scan(data, -1, bytewise),
	} {
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("%s disagrees with Check (-Check +%s):\n%s", name, name, d)
		}
	}
	return want
}

func types(s Structure) string {
	var ts []string
	for _, b := range s.Boxes {
		ts = append(ts, b.Type)
	}
	return strings.Join(ts, " ")
}

type verdictCase struct {
	name   string
	data   []byte
	format string
	boxes  string // the recorded box types
	err    string // "" for a pass; else the whole message
}

func cases() []verdictCase {
	jpg, thumb := jpegImage(), jpegImage()
	exif := withEXIFThumbnail(jpg, thumb)
	app1End := 2 + 4 + 6 + len(thumb) // SOI, APP1's header, "Exif\0\0", the thumbnail
	sos := bytes.Index(jpg, []byte{0xFF, 0xDA})
	soi := jpg[:2]
	scan := cat(segment(0xDA, []byte{1, 1, 0, 0, 63, 0}), []byte{0x12, 0xFF, 0x00, 0x34, 0xFF, 0xD3, 0x56, 0xFF, 0xFF})
	animated, blocks := gifImage(3), gifBlocks()
	ts := make([]byte, 376)
	ts[0], ts[188] = 0x47, 0x47
	png := pngImage()
	iend := len(png) - 12
	avi := riffFile("AVI ", box("LIST", make([]byte, 40))) // LIST has RIFF's layout too
	return []verdictCase{
		// ISO-BMFF
		{"mp4, moov at the end", cat(ftyp, mdat(1000), moov), "iso-bmff", "ftyp mdat moov", ""},
		{"mp4, fast start", cat(ftyp, moov, mdat(1000)), "iso-bmff", "ftyp moov mdat", ""},
		{"mp4 with free and uuid boxes", cat(ftyp, box("free", nil), moov, box("uuid", make([]byte, 20)), mdat(10)), "iso-bmff", "ftyp free moov uuid mdat", ""},
		{"mp4, 64-bit mdat size", cat(ftyp, moov, largeBox("mdat", 16+100, make([]byte, 100))), "iso-bmff", "ftyp moov mdat", ""},
		{"mp4, last box size 0", cat(ftyp, moov, boxSized("mdat", 0, make([]byte, 500))), "iso-bmff", "ftyp moov mdat", ""},
		{"mp4, moov of size 0 last", cat(ftyp, mdat(50), boxSized("moov", 0, moov[8:])), "iso-bmff", "ftyp mdat moov", ""},
		{"quicktime starting with moov", cat(moov, mdat(30)), "iso-bmff", "moov mdat", ""},
		{"quicktime starting with wide", cat(box("wide", nil), mdat(30), moov), "iso-bmff", "wide mdat moov", ""},
		{"unfinished mp4: mdat past the end, no moov", cat(ftyp, boxSized("mdat", 9000000, make([]byte, 4096-40))), "iso-bmff", "ftyp mdat",
			"incomplete iso-bmff file: mdat at offset 32 declares 9000000 bytes but the file ends at 4096"},
		{"unfinished mp4 with a 64-bit mdat size", cat(ftyp, largeBox("mdat", 1<<40, make([]byte, 100))), "iso-bmff", "ftyp mdat",
			"incomplete iso-bmff file: mdat at offset 32 declares 1099511627776 bytes but the file ends at 148"},
		{"mdat of size 0 before the moov", cat(ftyp, boxSized("mdat", 0, moov)), "iso-bmff", "ftyp mdat", "incomplete iso-bmff file: no moov box"},
		{"complete but no moov", cat(ftyp, mdat(1000)), "iso-bmff", "ftyp mdat", "incomplete iso-bmff file: no moov box"},
		{"moov cut short", cat(ftyp, mdat(10), moov[:50]), "iso-bmff", "ftyp mdat moov",
			"incomplete iso-bmff file: moov at offset 50 declares 116 bytes but the file ends at 100"},
		{"trailing bytes shorter than a header", cat(ftyp, moov, mdat(10), []byte("abc")), "iso-bmff", "ftyp moov mdat",
			"incomplete iso-bmff file: the box header at offset 166 is cut off by the end of the file at 169"},
		{"trailing garbage", cat(ftyp, moov, mdat(10), []byte("garbage, and more garbage")), "iso-bmff", "ftyp moov mdat age,",
			"incomplete iso-bmff file: age, at offset 166 declares 1734439522 bytes but the file ends at 191"},
		{"64-bit size cut off", cat(ftyp, moov, boxSized("mdat", 1, []byte{0, 0, 0})), "iso-bmff", "ftyp moov",
			"incomplete iso-bmff file: the box header at offset 148 is cut off by the end of the file at 159"},
		{"box smaller than its header", cat(ftyp, boxSized("free", 4, nil), moov), "iso-bmff", "ftyp free",
			"incomplete iso-bmff file: free at offset 32 declares 4 bytes, less than its 8-byte header"},
		{"64-bit size smaller than its header", cat(ftyp, largeBox("mdat", 8, nil), moov), "iso-bmff", "ftyp mdat",
			"incomplete iso-bmff file: mdat at offset 32 declares 8 bytes, less than its 16-byte header"},
		{"uuid box smaller than its extended type", cat(ftyp, box("uuid", make([]byte, 8)), moov), "iso-bmff", "ftyp uuid",
			"incomplete iso-bmff file: uuid at offset 32 declares 16 bytes, less than its 24-byte header"},
		{"64-bit size beyond int64", cat(ftyp, largeBox("mdat", 1<<64-1, nil), moov), "iso-bmff", "ftyp mdat",
			"incomplete iso-bmff file: mdat at offset 32 declares 9223372036854775807 bytes but the file ends at 164"},

		// EBML
		{"webm", webm(300), "matroska", "EBML Segment", ""},
		{"webm with void elements", cat(ebmlHeader, element(idVoid, make([]byte, 5)), webm(10)[len(ebmlHeader):], []byte{0xEC, 0x80}), "matroska", "EBML Void Segment Void", ""},
		{"webm, segment of unknown size", cat(ebmlHeader, idSegment, unknownSize, make([]byte, 200)), "matroska", "EBML Segment", ""},
		{"webm, segment of unknown 1-byte size", cat(ebmlHeader, idSegment, []byte{0xFF}, make([]byte, 20)), "matroska", "EBML Segment", ""},
		{"webm, segment cut short", webm(300)[:200], "matroska", "EBML Segment",
			"incomplete matroska file: Segment at offset 19 declares 312 bytes but the file ends at 200"},
		{"webm, EBML header cut short", ebmlHeader[:15], "matroska", "EBML",
			"incomplete matroska file: EBML at offset 0 declares 19 bytes but the file ends at 15"},
		{"webm, EBML header of unknown size", cat(idEBML, []byte{0xFF}, idSegment, []byte{0x80}), "matroska", "",
			"incomplete matroska file: an EBML header of unknown size at offset 0"},
		{"webm, no segment", cat(ebmlHeader, element(idVoid, nil)), "matroska", "EBML Void", "incomplete matroska file: no Segment element"},
		{"webm, element ID too long", cat(webm(5), []byte{0x08, 0, 0, 0, 0, 0x80}), "matroska", "EBML Segment",
			"incomplete matroska file: an element ID longer than 4 bytes at offset 36"},
		{"webm, element size too long", cat(webm(5), []byte{0xEC, 0x00}), "matroska", "EBML Segment",
			"incomplete matroska file: an element size longer than 8 bytes at offset 36"},
		{"webm, element header cut off", cat(webm(5), idSegment, []byte{0x01, 0}), "matroska", "EBML Segment",
			"incomplete matroska file: the element header at offset 36 is cut off by the end of the file at 42"},

		// RIFF
		{"avi", avi, "riff", "RIFF", ""},
		{"webp", riffFile("WEBP", box("VP8 ", make([]byte, 10))), "riff", "RIFF", ""},
		{"odd size, padded", cat(riffFile("WEBP", make([]byte, 5)), []byte{0}), "riff", "RIFF", ""},
		{"odd size, pad byte left out at the end", riffFile("WEBP", make([]byte, 5)), "riff", "RIFF", ""},
		{"OpenDML avi: two RIFF chunks", cat(avi, riffFile("AVIX", make([]byte, 16))), "riff", "RIFF RIFF", ""},
		{"avi declaring more than the file", riffFile("AVI ", make([]byte, 40), 1000), "riff", "RIFF",
			"incomplete riff file: RIFF at offset 0 declares 1008 bytes but the file ends at 52"},
		{"avi declaring less than the file", riffFile("AVI ", make([]byte, 40), 20), "riff", "RIFF",
			"incomplete riff file: a \"\\x00\\x00\\x00\\x00\" chunk where a RIFF chunk must start at offset 28"},

		// PNG
		{"png", png, "png", "IHDR IDAT IEND", ""},
		{"png without IEND", png[:iend], "png", "IHDR IDAT", "incomplete png file: no IEND chunk"},
		{"png cut inside IDAT", png[:iend-5], "png", "IHDR IDAT",
			fmt.Sprintf("incomplete png file: IDAT at offset 33 declares %d bytes but the file ends at %d", iend-33, iend-5)},
		{"png with bytes after IEND", cat(png, []byte("x")), "png", "IHDR IDAT IEND",
			fmt.Sprintf("incomplete png file: the file goes on after the IEND chunk that ends at offset %d", len(png))},
		{"png signature only", png[:8], "png", "", "incomplete png file: no IEND chunk"},

		// JPEG
		{"jpeg", jpg, "jpeg", "SOI DQT SOF0 DHT SOS EOI", ""},
		{"jpeg with an EXIF thumbnail", exif, "jpeg", "SOI APP1 DQT SOF0 DHT SOS EOI", ""},
		{"jpeg with fill bytes, stuffed bytes and restart markers", cat(soi, []byte{0xFF, 0xFF}, scan, []byte{0xD9}), "jpeg", "SOI SOS EOI", ""},
		{"jpeg with bytes after its EOI", cat(jpg, []byte("trailer")), "jpeg", "SOI DQT SOF0 DHT SOS EOI", ""},
		{"jpeg without its EOI", jpg[:len(jpg)-2], "jpeg", "SOI DQT SOF0 DHT SOS",
			fmt.Sprintf("incomplete jpeg file: the file ends at %d inside the data of the scan at offset %d, with no EOI marker", len(jpg)-2, sos)},
		{"jpeg cut in its scan data", jpg[:sos+100], "jpeg", "SOI DQT SOF0 DHT SOS",
			fmt.Sprintf("incomplete jpeg file: the file ends at %d inside the data of the scan at offset %d, with no EOI marker", sos+100, sos)},
		{"jpeg cut right after its EXIF thumbnail's EOI", exif[:app1End], "jpeg", "SOI APP1",
			fmt.Sprintf("incomplete jpeg file: no EOI marker: the file ends at %d", app1End)},
		{"jpeg cut inside its EXIF thumbnail, after the thumbnail's scan", exif[:app1End-1], "jpeg", "SOI APP1",
			fmt.Sprintf("incomplete jpeg file: APP1 at offset 2 declares %d bytes but the file ends at %d", app1End-2, app1End-1)},
		{"jpeg cut in a marker segment header", jpg[:sos+2], "jpeg", "SOI DQT SOF0 DHT",
			fmt.Sprintf("incomplete jpeg file: the marker segment header at offset %d is cut off by the end of the file at %d", sos, sos+2)},
		{"jpeg with garbage where a marker must be", cat(jpg[:sos], []byte{0x00}, jpg[sos:]), "jpeg", "SOI DQT SOF0 DHT",
			fmt.Sprintf("incomplete jpeg file: a 0x00 byte where a marker must start at offset %d", sos)},
		{"jpeg with a segment shorter than its length", cat(soi, []byte{0xFF, 0xE0, 0x00, 0x01}, jpg[2:]), "jpeg", "SOI",
			"incomplete jpeg file: APP0 at offset 2 declares a length of 1, less than its 2 length bytes"},
		{"jpeg with a second SOI", cat(soi, jpg), "jpeg", "SOI", "incomplete jpeg file: a second SOI marker at offset 2"},
		{"jpeg with a stuffed byte where a marker must be", cat(soi, []byte{0xFF, 0x00}), "jpeg", "SOI",
			"incomplete jpeg file: a stuffed 0xFF 0x00 where a marker must be, at offset 2"},
		{"jpeg of tables only", cat(soi, segment(0xDB, make([]byte, 65)), []byte{0xFF, 0xD9}), "jpeg", "SOI DQT EOI",
			"incomplete jpeg file: an EOI marker at offset 71 before any scan (SOS): the file holds no image"},

		// GIF
		{"gif", animated, "gif", "Header Extension Extension Image Extension Image Extension Image Trailer", ""},
		{"gif with trailer bytes in its data", blocks, "gif", "Header Extension Image Trailer", ""},
		{"gif with bytes after its trailer", cat(blocks, []byte{0, 0}), "gif", "Header Extension Image Trailer", ""},
		{"gif without its trailer", blocks[:len(blocks)-1], "gif", "Header Extension Image",
			fmt.Sprintf("incomplete gif file: no trailer: the file ends at %d", len(blocks)-1)},
		{"gif cut after a trailer byte in its data", blocks[:17], "gif", "Header",
			"incomplete gif file: the Extension block at offset 13 is cut off by the end of the file at 17"},
		{"gif cut in an image", animated[:100], "gif", "Header Extension Extension Image Extension",
			"incomplete gif file: the Image block at offset 95 is cut off by the end of the file at 100"},
		{"gif cut in its header", animated[:10], "gif", "",
			"incomplete gif file: the Header block at offset 0 is cut off by the end of the file at 10"},
		{"gif cut in its global color table", cat([]byte("GIF87a"), []byte{1, 0, 1, 0, 0x81, 0, 0}, make([]byte, 5)), "gif", "Header",
			"incomplete gif file: the Header block at offset 0 is cut off by the end of the file at 18"},
		{"gif with garbage where a block must be", cat(blocks[:13], []byte{0x00}, blocks[13:]), "gif", "Header",
			"incomplete gif file: a 0x00 byte where a block must start at offset 13"},

		// No checker
		{"empty", nil, "", "", ""},
		{"mpeg-ts", ts, "", "", ""},
		{"shorter than any signature", []byte("\x00\x00\x00"), "", "", ""},
	}
}

// endNotProven are the passing cases whose structure does not show where
// the file ends (besides those in formats without a checker): a box runs to
// the end of the stream, or bytes follow the end marker.
var endNotProven = map[string]bool{
	"mp4, last box size 0":                 true,
	"mp4, moov of size 0 last":             true,
	"webm, segment of unknown size":        true,
	"webm, segment of unknown 1-byte size": true,
	"jpeg with bytes after its EOI":        true,
	"gif with bytes after its trailer":     true,
}

func TestVerdicts(t *testing.T) {
	names := map[string]bool{}
	for _, tt := range cases() {
		names[tt.name] = true
	}
	for name := range endNotProven {
		if !names[name] {
			t.Fatalf("endNotProven names %q, which is not a case", name)
		}
	}
	for _, tt := range cases() {
		t.Run(tt.name, func(t *testing.T) {
			got := verdict(t, tt.data)
			if got.S.Format != tt.format || types(got.S) != tt.boxes {
				t.Errorf("structure = %q %q, want %q %q", got.S.Format, types(got.S), tt.format, tt.boxes)
			}
			if got.Err != tt.err || got.Incomplete != (tt.err != "") {
				t.Errorf("error = %q (incomplete: %v), want %q", got.Err, got.Incomplete, tt.err)
			}
			if want := tt.err == "" && tt.format != "" && !endNotProven[tt.name]; got.S.EndProven != want {
				t.Errorf("end proven = %v, want %v", got.S.EndProven, want)
			}
		})
	}
}

// Headers split across writes at every possible point parse the same.
func TestVerdictsAtEverySplit(t *testing.T) {
	for _, tt := range cases() {
		t.Run(tt.name, func(t *testing.T) {
			want := check(tt.data)
			for i := range tt.data {
				split := func(b []byte) [][]byte { return [][]byte{b[:i], b[i:]} }
				for _, total := range []int64{int64(len(tt.data)), -1} {
					if got := scan(tt.data, total, split); !cmp.Equal(got, want) {
						t.Fatalf("Scanner(%d) split at %d: %s", total, i, cmp.Diff(want, got))
					}
				}
			}
		})
	}
}

func TestBoxesLocateTheFile(t *testing.T) {
	data := cat(ftyp, moov, boxSized("mdat", 0, make([]byte, 500)))
	got := verdict(t, data)
	want := []Box{{"ftyp", 0, 32}, {"moov", 32, 116}, {"mdat", 148, 508}}
	if d := cmp.Diff(want, got.S.Boxes); d != "" {
		t.Fatalf("boxes (-want +got):\n%s", d)
	}
	if b, ok := got.S.Find("moov"); !ok || b != want[1] {
		t.Errorf("Find(moov) = %v, %v", b, ok)
	}
	if _, ok := got.S.Find("trak"); ok {
		t.Error("Find found a box that is not there")
	}
}

func TestBoxesAreCappedButStillChecked(t *testing.T) {
	frees := bytes.Repeat(box("free", nil), MaxBoxes+5)
	got := verdict(t, cat(ftyp, frees, moov))
	if got.Err != "" || len(got.S.Boxes) != MaxBoxes {
		t.Fatalf("%d boxes recorded, error %q; want %d and a pass (moov is found past the cap)", len(got.S.Boxes), got.Err, MaxBoxes)
	}
	got = verdict(t, cat(ftyp, frees, mdat(10)))
	if got.Err != "incomplete iso-bmff file: no moov box" {
		t.Fatalf("error = %q", got.Err)
	}
	got = verdict(t, cat(ftyp, bytes.Repeat(box("free", nil), MaxHeaders), moov))
	if want := "incomplete iso-bmff file: more than 100000 top-level headers, too many to check"; got.Err != want {
		t.Fatalf("error = %q, want %q", got.Err, want)
	}
}

func TestIsIncomplete(t *testing.T) {
	_, err := Check(bytes.NewReader(cat(ftyp, mdat(10))), 50)
	if !IsIncomplete(fmt.Errorf("transfer: %w", err)) {
		t.Errorf("IsIncomplete(wrapped %v) = false", err)
	}
	if IsIncomplete(errors.New("incomplete iso-bmff file: no moov box")) || IsIncomplete(nil) {
		t.Error("IsIncomplete is true of an error that is not an *IncompleteError")
	}
}

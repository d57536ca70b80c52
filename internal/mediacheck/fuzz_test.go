package mediacheck

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// FuzzScanner checks that a Scanner, of known or unknown size and written
// in any pieces, agrees with Check, that neither panics, that a pass means
// the recorded boxes tile the file (up to a JPEG's or GIF's end marker),
// and that a file whose end marker proves its end does not once cut.
func FuzzScanner(f *testing.F) {
	for i, tt := range cases() {
		f.Add(tt.data, uint16(i*2654435761))
	}
	f.Add(cat(ftyp, largeBox("mdat", 1<<63, nil)), uint16(0))
	f.Add(cat(ebmlHeader, idSegment, []byte{0x40, 0x01}), uint16(7))
	f.Fuzz(func(t *testing.T, data []byte, pieces uint16) {
		// Piece lengths cycle through the four nibbles of pieces, plus one.
		split := func(b []byte) [][]byte {
			var out [][]byte
			for i := 0; len(b) > 0; i++ {
				n := min(len(b), 1+int(pieces>>(4*(i%4))&15))
				out, b = append(out, b[:n]), b[n:]
			}
			return out
		}
		want := check(data)
		for _, total := range []int64{int64(len(data)), -1} {
			if got := scan(data, total, split); !cmp.Equal(got, want) {
				t.Fatalf("Scanner(%d) disagrees with Check:\n%s", total, cmp.Diff(want, got))
			}
		}
		if want.Err == "" && want.S.Format != "" && len(want.S.Boxes) < MaxBoxes {
			tiles(t, want.S, int64(len(data)))
		}
		// An end marker proves the end: the same file cut anywhere before
		// it is never a whole file whose end is proven.
		if want.Err == "" && want.S.EndProven && endMarked[want.S.Format] {
			cut := int(pieces) % len(data)
			if got := check(data[:cut]); got.Err == "" && got.S.EndProven {
				t.Fatalf("cut at %d of %d bytes, the file still proves its end: %+v", cut, len(data), got.S)
			}
		}
	})
}

// endMarked are the formats whose end is a marker rather than a size.
var endMarked = map[string]bool{"png": true, "jpeg": true, "gif": true}

// tiles fails unless the boxes of a passing file follow one another from
// its start (after PNG's signature) to its end.
func tiles(t *testing.T, s Structure, size int64) {
	t.Helper()
	pos := int64(0)
	if s.Format == "png" {
		pos = 8
	}
	for _, b := range s.Boxes {
		if b.Offset != pos || b.Size < 1 {
			t.Fatalf("box %+v, want one at offset %d: %+v", b, pos, s.Boxes)
		}
		pos += b.Size
		if s.Format == "riff" && b.Size%2 == 1 && pos < size {
			pos++ // the pad byte
		}
	}
	switch {
	case s.Format == "jpeg" || s.Format == "gif":
		// Bytes may follow the end marker, and then the end is not proven.
		if pos > size || s.EndProven != (pos == size) {
			t.Fatalf("boxes end at %d, the file at %d, end proven %v: %+v", pos, size, s.EndProven, s.Boxes)
		}
	case pos != size:
		t.Fatalf("boxes end at %d, the file at %d: %+v", pos, size, s.Boxes)
	}
}

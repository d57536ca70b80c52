package mediacheck

import (
	"bytes"
	"testing"
)

// With the size declared, an unfinished MP4 is refused at its mdat header,
// so a copy through the Scanner stops there instead of at the end.
func TestScannerFailsAtTheFirstHeaderThatOverruns(t *testing.T) {
	data := cat(ftyp, boxSized("mdat", 9000000, make([]byte, 1<<20)))
	s := NewScanner(int64(len(data)))
	n, err := s.Write(data[:40])
	if !IsIncomplete(err) || n != 40 {
		t.Fatalf("Write of ftyp and the mdat header = %d, %v; want an *IncompleteError", n, err)
	}
	if n, again := s.Write(data[40:]); n != 0 || again != err {
		t.Errorf("Write after the verdict = %d, %v; want 0 and the same error", n, again)
	}
	if _, end := s.Close(); end != err {
		t.Errorf("Close = %v, want %v", end, err)
	}

	// Of unknown size, the same file is only known to be short at its end.
	s = NewScanner(-1)
	if _, err := s.Write(data); err != nil {
		t.Fatalf("Write of unknown size = %v", err)
	}
	if _, err := s.Close(); !IsIncomplete(err) {
		t.Fatalf("Close = %v, want an *IncompleteError", err)
	}
}

func TestScannerErrorStopsTheWriteWhereItIsFound(t *testing.T) {
	data := cat(pngImage(), []byte("trailing"))
	s := NewScanner(-1)
	n, err := s.Write(data)
	if !IsIncomplete(err) || n != len(data)-len("trailing") {
		t.Fatalf("Write = %d, %v; want %d bytes taken and an *IncompleteError", n, err, len(data)-len("trailing"))
	}
}

func TestScannerAgainstItsDeclaredSize(t *testing.T) {
	data := cat(ftyp, moov, mdat(100))
	s := NewScanner(int64(len(data)) - 1)
	if _, err := s.Write(data); err == nil || IsIncomplete(err) {
		t.Errorf("Write past the declared size = %v, want an error that is not a verdict", err)
	}

	s = NewScanner(int64(len(data)) + 1)
	if _, err := s.Write(data); err != nil {
		t.Fatal(err)
	}
	st, err := s.Close()
	if want := "incomplete iso-bmff file: the stream ended after 256 of 257 bytes"; err == nil || err.Error() != want {
		t.Errorf("Close of a short stream = %v, want %q", err, want)
	}
	if types(st) != "ftyp moov mdat" {
		t.Errorf("structure = %q", types(st))
	}
	if _, again := s.Close(); again != err {
		t.Errorf("second Close = %v, want %v", again, err)
	}
}

func TestScannerOfNothing(t *testing.T) {
	for _, total := range []int64{0, -1} {
		if st, err := NewScanner(total).Close(); err != nil || st.Format != "" {
			t.Errorf("NewScanner(%d).Close() = %+v, %v; want an empty pass", total, st, err)
		}
	}
	// Empty writes change nothing.
	s := NewScanner(-1)
	for _, p := range [][]byte{nil, ftyp, {}, moov, nil} {
		if _, err := s.Write(p); err != nil {
			t.Fatal(err)
		}
	}
	if st, err := s.Close(); err != nil || types(st) != "ftyp moov" {
		t.Errorf("Close = %+v, %v", st, err)
	}
}

// The Scanner keeps no payload: a file much larger than its headers runs
// through it without the Scanner growing.
func TestScannerDoesNotAllocatePerWrite(t *testing.T) {
	payload := bytes.Repeat([]byte{1}, 64<<10)
	head := cat(ftyp, boxSized("mdat", uint32(8+100*len(payload)), nil))
	allocs := testing.AllocsPerRun(5, func() {
		s := NewScanner(-1)
		s.Write(head)
		for range 100 {
			s.Write(payload)
		}
		s.Write(moov)
		if _, err := s.Close(); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 10 {
		t.Errorf("%v allocations to scan a 6.4 MB file, want a handful however long it is", allocs)
	}
}

// The Scanner's cost on the copy path: per 1 MiB write of a payload it
// only counts.
func BenchmarkScannerWrite(b *testing.B) {
	chunk := make([]byte, 1<<20)
	s := NewScanner(-1)
	s.Write(cat(ftyp, largeBox("mdat", 1<<62, nil)))
	b.SetBytes(int64(len(chunk)))
	for b.Loop() {
		if _, err := s.Write(chunk); err != nil {
			b.Fatal(err)
		}
	}
}

// Before a body whose length nobody declared is copied, its first bytes
// tell whether its structure could ever prove where it ends.
func TestScannerEndUnprovable(t *testing.T) {
	ts := make([]byte, 376)
	ts[0], ts[188] = 0x47, 0x47
	for _, tt := range []struct {
		name string
		head []byte
		want bool
	}{
		{"mp4 so far", cat(ftyp, moov), false},
		{"mp4 whose mdat runs to the end", cat(ftyp, moov, boxSized("mdat", 0, make([]byte, 100))), true},
		{"webm, segment of known size", webm(300)[:100], false},
		{"webm, segment of unknown size", cat(ebmlHeader, idSegment, unknownSize, make([]byte, 50)), true},
		{"jpeg", jpegImage()[:200], false},
		{"gif", gifImage(1)[:20], false},
		{"mpeg-ts", ts, true},
		{"not yet known", ftyp[:10], false},
		{"png with bytes after IEND", cat(pngImage(), []byte("x")), false}, // a verdict, not a doubt
	} {
		s := NewScanner(-1)
		s.Write(tt.head)
		if got := s.EndUnprovable(); got != tt.want {
			t.Errorf("%s: EndUnprovable = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// Check reads a JPEG through in a few large reads, not one per marker.
func TestCheckReadsJPEGInLargeReads(t *testing.T) {
	img := withEXIFThumbnail(jpegImage(), jpegImage())
	data := cat(img[:len(img)-2], bytes.Repeat([]byte{0x5A}, 1<<20), img[len(img)-2:]) // a long scan
	s := &sparse{size: int64(len(data)), pieces: map[int64][]byte{0: data}}
	st, err := Check(s, s.size)
	if err != nil || !st.EndProven {
		t.Fatalf("Check = %+v, %v", st, err)
	}
	if len(s.reads) > 6 {
		t.Errorf("%d reads for a %d-byte JPEG, want 6 at most: %v", len(s.reads), len(data), s.reads)
	}
}

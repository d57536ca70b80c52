package mediacheck

import (
	"errors"
	"io"
	"sort"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// sparse is a file of size bytes that holds pieces at their offsets and
// zeros elsewhere, without allocating the zeros: a stand-in for files of
// gigabytes. It counts the reads made of it.
type sparse struct {
	size   int64
	pieces map[int64][]byte
	reads  []span
}

type span struct{ off, n int64 }

func (s *sparse) ReadAt(p []byte, off int64) (int, error) {
	s.reads = append(s.reads, span{off, int64(len(p))})
	if off >= s.size {
		return 0, io.EOF
	}
	n := int(min(int64(len(p)), s.size-off))
	clear(p[:n])
	for at, b := range s.pieces {
		if at < off+int64(n) && at+int64(len(b)) > off {
			lo, hi := max(at, off), min(at+int64(len(b)), off+int64(n))
			copy(p[lo-off:hi-off], b[lo-at:hi-at])
		}
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// writeTo streams the file into w, passing one shared buffer of zeros for
// the gaps: the Scanner never looks at payload bytes, so this costs no
// more than the calls.
func (s *sparse) writeTo(w io.Writer) error {
	offs := make([]int64, 0, len(s.pieces))
	for at := range s.pieces {
		offs = append(offs, at)
	}
	sort.Slice(offs, func(i, j int) bool { return offs[i] < offs[j] })
	zeros := make([]byte, 1<<20)
	var pos int64
	for i := 0; pos < s.size; {
		next := s.size
		if i < len(offs) {
			next = offs[i]
		}
		if pos == next {
			if _, err := w.Write(s.pieces[next]); err != nil {
				return err
			}
			pos += int64(len(s.pieces[next]))
			i++
			continue
		}
		n := min(next-pos, int64(len(zeros)))
		if _, err := w.Write(zeros[:n]); err != nil {
			return err
		}
		pos += n
	}
	return nil
}

// bigMP4 is ftyp, an mdat of payload bytes (with a 64-bit size when the
// payload needs it) and a moov, of which only the headers are real.
func bigMP4(payload int64) *sparse {
	hdr := boxSized("mdat", uint32(8+payload), nil)
	if 8+payload > 1<<32-1 {
		hdr = largeBox("mdat", uint64(16+payload), nil)
	}
	moovAt := int64(len(ftyp)+len(hdr)) + payload
	return &sparse{
		size:   moovAt + int64(len(moov)),
		pieces: map[int64][]byte{0: ftyp, int64(len(ftyp)): hdr, moovAt: moov},
	}
}

func TestFilesOverFourGiB(t *testing.T) {
	for _, payload := range []int64{1<<32 - 1 - 8, 1<<32 - 8, 5 << 30} { // the last 32-bit mdat, the first 64-bit one, 5 GiB
		f := bigMP4(payload)
		st, err := Check(f, f.size)
		if err != nil {
			t.Fatalf("Check(%d-byte payload): %v", payload, err)
		}
		if b, _ := st.Find("mdat"); b.Size < payload || types(st) != "ftyp mdat moov" {
			t.Fatalf("Check(%d-byte payload) = %+v", payload, st)
		}
		if len(f.reads) != 3 {
			t.Errorf("Check made %d reads, want one per box: %v", len(f.reads), f.reads)
		}
		s := NewScanner(f.size)
		if err := f.writeTo(s); err != nil {
			t.Fatal(err)
		}
		got, err := s.Close()
		if err != nil || !cmp.Equal(got, st) {
			t.Fatalf("Scanner = %+v, %v; Check = %+v", got, err, st)
		}
	}
}

// Check reads each header in one small read and never a payload: what
// matters when every ReadAt is a ranged GET.
func TestCheckReadsOnlyHeaders(t *testing.T) {
	data := cat(ftyp, mdat(100000), moov)
	f := &sparse{size: int64(len(data)), pieces: map[int64][]byte{0: data}}
	if _, err := Check(f, f.size); err != nil {
		t.Fatal(err)
	}
	want := []span{{0, 16}, {32, 16}, {100040, 16}}
	if d := cmp.Diff(want, f.reads, cmp.AllowUnexported(span{})); d != "" {
		t.Fatalf("reads (-want +got):\n%s", d)
	}
}

type failingReader struct{ err error }

func (r failingReader) ReadAt([]byte, int64) (int, error) { return 0, r.err }

// Errors of the reader are not verdicts on the file.
func TestCheckReaderErrors(t *testing.T) {
	broken := errors.New("range read failed")
	if _, err := Check(failingReader{broken}, 1000); !errors.Is(err, broken) || IsIncomplete(err) {
		t.Errorf("Check on a failing reader = %v, want the reader's error, not a verdict", err)
	}
	short := &sparse{size: 40, pieces: map[int64][]byte{0: cat(ftyp, mdat(0))}}
	if _, err := Check(short, 1000); !errors.Is(err, io.ErrUnexpectedEOF) || IsIncomplete(err) {
		t.Errorf("Check of a reader shorter than its size = %v, want io.ErrUnexpectedEOF", err)
	}
	if _, err := Check(short, -1); err == nil {
		t.Error("Check accepted a negative size")
	}
}

package mediaorigin

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"testing"
	"time"

	"github.com/wochit-ingest/wochit-ingest/internal/mediacheck"
)

// boxTypes checks data with mediacheck and returns its top-level box types.
func boxTypes(t *testing.T, r io.ReaderAt, size int64) (mediacheck.Structure, string) {
	t.Helper()
	st, err := mediacheck.Check(r, size)
	if err != nil {
		t.Fatalf("mediacheck.Check of %d bytes: %v", size, err)
	}
	var s string
	for _, b := range st.Boxes {
		s += b.Type + " "
	}
	return st, s
}

func TestVideosAreWholeMP4sOfTheirSize(t *testing.T) {
	for _, size := range []int{32, 64, 100, 155, 156, 157, 500, 700, 1000, 1001, 4096, 256 << 10, 1<<20 + 5, 5<<20 + 123, 64 << 20} {
		for _, fast := range []bool{false, true} {
			t.Run(fmt.Sprintf("%d bytes, fast start %v", size, fast), func(t *testing.T) {
				v := VideoWith("whole", size, VideoOptions{FastStart: fast})
				if len(v) != size {
					t.Fatalf("%d bytes", len(v))
				}
				_, types := boxTypes(t, bytes.NewReader(v), int64(size))
				// Below this size there is no room for a track, and the moov
				// (with a movie header only, or empty) comes first.
				full := size > len(ftypBox)+len(track{width: 1280, height: 720}.moov())+8
				want := "ftyp mdat moov "
				if fast || !full {
					want = "ftyp moov mdat "
				}
				if types != want {
					t.Errorf("boxes %q, want %q", types, want)
				}
				if full != bytes.Contains(v, []byte("avcC")) || (size >= 156) != bytes.Contains(v, []byte("mvhd")) {
					t.Errorf("%d bytes: a track %v, a movie header %v", size, bytes.Contains(v, []byte("avcC")), bytes.Contains(v, []byte("mvhd")))
				}
			})
		}
	}
}

func TestCanaryBodyPassesTheCheck(t *testing.T) {
	if _, types := boxTypes(t, bytes.NewReader(CanaryBody), int64(len(CanaryBody))); len(CanaryBody) != 64 || types != "ftyp moov mdat " {
		t.Fatalf("CanaryBody: %d bytes, boxes %q", len(CanaryBody), types)
	}
}

func TestGeneratedIsVideoAtAnyOffset(t *testing.T) {
	for _, size := range []int{64, 300, 1000, 12345, 1 << 20} {
		for _, opts := range []VideoOptions{{}, {FastStart: true, Width: 640, Height: 360}} {
			want := VideoWith("same", size, opts)
			g := NewGeneratedWith("same", int64(size), opts)
			if g.Size() != int64(size) {
				t.Fatalf("Size() = %d, want %d", g.Size(), size)
			}
			for _, r := range [][2]int{{0, size}, {1, 7}, {3, 64}, {size - 9, 9}, {size / 2, size/2 - 1}, {size - 700, 700}} {
				off := max(r[0], 0)
				n := min(r[1], size-off)
				got := make([]byte, n)
				if k, err := g.ReadAt(got, int64(off)); k != n || (err != nil && err != io.EOF) || !bytes.Equal(got, want[off:off+n]) {
					t.Fatalf("size %d %+v: ReadAt(%d bytes at %d) = %d, %v, or differs from Video", size, opts, n, off, k, err)
				}
			}
			if k, err := g.ReadAt(make([]byte, 10), int64(size-4)); k != 4 || err != io.EOF {
				t.Errorf("ReadAt across the end = %d, %v; want 4, io.EOF", k, err)
			}
		}
	}
}

func TestSeedsGiveTheirOwnPayloads(t *testing.T) {
	a, b := Video("a", 100000), Video("b", 100000)
	if !bytes.Equal(a, Video("a", 100000)) {
		t.Fatal("the same seed and size gave different bytes")
	}
	if bytes.Equal(a[5000:5100], b[5000:5100]) {
		t.Fatal("different seeds gave the same payload")
	}
}

// Files over 4 GiB need a 64-bit mdat size; NewGenerated computes its
// headers without holding the file.
func TestGeneratedOverFourGiB(t *testing.T) {
	ftypAndMoov := int64(len(ftypBox) + len(track{width: 1280, height: 720}.moov()))
	for _, size := range []int64{math.MaxUint32 + ftypAndMoov, math.MaxUint32 + ftypAndMoov + 1, 5 << 30} {
		g := NewGenerated("big", size)
		st, types := boxTypes(t, g, size)
		mdat, _ := st.Find("mdat")
		if types != "ftyp mdat moov " || mdat.Size != size-ftypAndMoov {
			t.Fatalf("%d bytes: boxes %q, mdat %+v", size, types, mdat)
		}
		var hdr [4]byte
		g.ReadAt(hdr[:], mdat.Offset)
		if large := binary.BigEndian.Uint32(hdr[:]) == 1; large != (mdat.Size > math.MaxUint32) {
			t.Errorf("%d-byte mdat with a 64-bit size: %v", mdat.Size, large)
		}
		moov, _ := st.Find("moov")
		b := make([]byte, moov.Size)
		g.ReadAt(b, moov.Offset)
		v := describe(t, b)
		if v.chunkOffset != mdat.Offset+int64(len(mdatHeader(mdat.Size))) || v.samples*v.sampleSize > mdat.Size-16 || v.samples*v.sampleSize < mdat.Size-16-v.samples {
			t.Errorf("%d bytes: samples %+v do not fill the mdat %+v", size, v, mdat)
		}
	}
}

func TestUnfinishedVideoIsIncomplete(t *testing.T) {
	for _, size := range []int{40, 1000, 1 << 20} {
		v := UnfinishedVideo("u", size)
		_, err := mediacheck.Check(bytes.NewReader(v), int64(len(v)))
		want := fmt.Sprintf("incomplete iso-bmff file: mdat at offset 32 declares %d bytes but the file ends at %d", 2*size, size)
		if len(v) != size || err == nil || err.Error() != want {
			t.Errorf("%d bytes: Check = %v, want %q", len(v), err, want)
		}
		if string(v[4:8]) != "ftyp" || bytes.Contains(v, []byte("moov")) {
			t.Errorf("%d bytes: not an MP4 still being written", size)
		}
	}
}

func TestWebMIsWhole(t *testing.T) {
	for _, size := range []int{57, 1000, 1 << 20} {
		w := WebM("w", size)
		st, err := mediacheck.Check(bytes.NewReader(w), int64(len(w)))
		if _, ok := st.Find("Segment"); len(w) != size || err != nil || st.Format != "matroska" || !ok {
			t.Fatalf("%d bytes: %+v, %v", len(w), st, err)
		}
		if _, err := mediacheck.Check(bytes.NewReader(w[:size-1]), int64(size-1)); !mediacheck.IsIncomplete(err) {
			t.Errorf("a WebM cut by a byte: %v", err)
		}
	}
}

func TestThumbnailIsWholePNG(t *testing.T) {
	p := Thumbnail("t", 32, 18)
	if st, err := mediacheck.Check(bytes.NewReader(p), int64(len(p))); err != nil || st.Format != "png" {
		t.Fatalf("%+v, %v", st, err)
	}
}

// Sizes and durations too are what the options ask for.
func TestVideoMetadata(t *testing.T) {
	for _, tt := range []struct {
		size          int
		opts          VideoOptions
		width, height int64
		ms            int64
	}{
		{1 << 20, VideoOptions{}, 1280, 720, 2080}, // (1 MiB - headers) / 20000-byte frames: 52 frames of 40 ms
		{1000, VideoOptions{}, 1280, 720, 40},      // at least one frame
		{1 << 20, VideoOptions{FastStart: true, Width: 1920, Height: 1080, Duration: 12 * time.Second}, 1920, 1080, 12000},
		{5000, VideoOptions{Width: 642, Height: 362, Duration: 1010 * time.Millisecond}, 642, 362, 1000},
		{3000, VideoOptions{Duration: time.Hour}, 1280, 720, 0}, // a frame per byte of payload, at most
		{3 << 20, VideoOptions{Duration: 4 * time.Second, MoovPadding: 1 << 20}, 1280, 720, 4000},
	} {
		t.Run(fmt.Sprintf("%d %+v", tt.size, tt.opts), func(t *testing.T) {
			v := VideoWith("meta", tt.size, tt.opts)
			st, _ := boxTypes(t, bytes.NewReader(v), int64(len(v)))
			moov, _ := st.Find("moov")
			mdat, _ := st.Find("mdat")
			if moov.Size < int64(tt.opts.MoovPadding) {
				t.Errorf("a moov of %d bytes, want at least the padding's %d", moov.Size, tt.opts.MoovPadding)
			}
			d := describe(t, v[moov.Offset:moov.Offset+moov.Size])
			if tt.ms == 0 {
				tt.ms = d.samples * 40
				if d.samples != mdat.Size-8 {
					t.Errorf("%d frames in a %d-byte mdat, want one per byte", d.samples, mdat.Size)
				}
			}
			want := video{width: tt.width, height: tt.height, ms: tt.ms, mediaDuration: tt.ms * 128 / 10, codec: "avc1", handler: "vide",
				chunkOffset: mdat.Offset + 8, samples: d.samples, sampleSize: (mdat.Size - 8) / d.samples}
			if d != want {
				t.Errorf("moov says\n%+v, want\n%+v", d, want)
			}
		})
	}
}

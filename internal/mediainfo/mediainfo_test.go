package mediainfo

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/wochit-ingest/wochit-ingest/devstack/mediaorigin"
	"github.com/wochit-ingest/wochit-ingest/internal/mediacheck"
)

func TestGeneratedVideos(t *testing.T) {
	for _, tt := range []struct {
		name string
		size int64
		opts mediaorigin.VideoOptions
		want Info
	}{
		// The default duration is the payload at 4 Mbit/s: 52 frames of 1/25 s.
		{"default", 1 << 20, mediaorigin.VideoOptions{},
			Info{DurationMillis: 2080, Width: 1280, Height: 720, Codec: "avc1.4D401F", FastStart: ptr(false)}},
		{"fast start", 1 << 20, mediaorigin.VideoOptions{FastStart: true},
			Info{DurationMillis: 2080, Width: 1280, Height: 720, Codec: "avc1.4D401F", FastStart: ptr(true)}},
		{"1080p", 1 << 20, mediaorigin.VideoOptions{FastStart: true, Width: 1920, Height: 1080, Duration: 10 * time.Second},
			Info{DurationMillis: 10000, Width: 1920, Height: 1080, Codec: "avc1.4D4028", FastStart: ptr(true)}},
		{"portrait", 1 << 20, mediaorigin.VideoOptions{Width: 1080, Height: 1920, Duration: 15 * time.Second},
			Info{DurationMillis: 15000, Width: 1080, Height: 1920, Codec: "avc1.4D4028", FastStart: ptr(false)}},
		// 1234 ms is 30.85 frames: the generator rounds to 31.
		{"360p, whole frames", 1 << 20, mediaorigin.VideoOptions{Width: 640, Height: 360, Duration: 1234 * time.Millisecond},
			Info{DurationMillis: 1240, Width: 640, Height: 360, Codec: "avc1.4D401E", FastStart: ptr(false)}},
		{"odd size, cropped", 1 << 20, mediaorigin.VideoOptions{FastStart: true, Width: 853, Height: 481, Duration: time.Second},
			Info{DurationMillis: 1000, Width: 853, Height: 481, Codec: "avc1.4D401F", FastStart: ptr(true)}},
		{"4K, 90 minutes", 1 << 20, mediaorigin.VideoOptions{FastStart: true, Width: 3840, Height: 2160, Duration: 90 * time.Minute},
			Info{DurationMillis: 5_400_000, Width: 3840, Height: 2160, Codec: "avc1.4D4033", FastStart: ptr(true)}},
		{"tiny picture", 1 << 20, mediaorigin.VideoOptions{Width: 16, Height: 16, Duration: 40 * time.Millisecond},
			Info{DurationMillis: 40, Width: 16, Height: 16, Codec: "avc1.4D401E", FastStart: ptr(false)}},
		// Past 4 GiB the mdat has a 64-bit size and the moov an offset beyond 32 bits.
		{"5 GiB, moov at the end", 5 << 30, mediaorigin.VideoOptions{Duration: 2 * time.Hour},
			Info{DurationMillis: 7_200_000, Width: 1280, Height: 720, Codec: "avc1.4D401F", FastStart: ptr(false)}},
		{"5 GiB, fast start", 5 << 30, mediaorigin.VideoOptions{FastStart: true, Duration: 2 * time.Hour},
			Info{DurationMillis: 7_200_000, Width: 1280, Height: 720, Codec: "avc1.4D401F", FastStart: ptr(true)}},
		// Too small for a track: a moov with only a movie header of 0 ms.
		{"movie header only", 300, mediaorigin.VideoOptions{}, Info{FastStart: ptr(true)}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			g := mediaorigin.NewGeneratedWith(tt.name, tt.size, tt.opts)
			st, err := mediacheck.Check(g, g.Size())
			if err != nil {
				t.Fatal(err)
			}
			got, err := readFrom(t, g, g.Size(), st)
			if err != nil {
				t.Errorf("Read: %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Info (-want +got):\n%s", diff)
			}
		})
	}
}

func TestJSON(t *testing.T) {
	for _, tt := range []struct {
		name string
		file []byte
		want string
	}{
		{"fast start", mediaorigin.VideoWith("j", 1<<20, mediaorigin.VideoOptions{FastStart: true}),
			`{"durationMs":2080,"width":1280,"height":720,"codec":"avc1.4D401F","fastStart":true}`},
		{"moov at the end", mediaorigin.Video("j", 1<<20), // false is reported, not left out
			`{"durationMs":2080,"width":1280,"height":720,"codec":"avc1.4D401F","fastStart":false}`},
		{"no track", mediaorigin.Video("j", 300), `{"fastStart":true}`},
		{"WebM", mediaorigin.WebM("j", 4096), `{}`},
		{"PNG", mediaorigin.Thumbnail("j", 16, 9), `{}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			info, _ := read(t, tt.file)
			got, err := json.Marshal(info)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestNotISOBMFFIsEmptyAndUnread(t *testing.T) {
	for name, b := range map[string][]byte{
		"WebM":    mediaorigin.WebM("n", 4096),
		"PNG":     mediaorigin.Thumbnail("n", 32, 32),
		"unknown": []byte("\x47 MPEG-TS, or any format mediacheck has no checker for"),
		"empty":   nil,
	} {
		t.Run(name, func(t *testing.T) {
			c := &countingReader{r: bytes.NewReader(b)}
			info, err := Read(c, int64(len(b)), check(t, b))
			if err != nil || info != (Info{}) || len(c.calls) > 0 {
				t.Errorf("Read = %+v, %v after reads %v; want an empty Info, no error, no read", info, err, c.calls)
			}
		})
	}
}

func TestCodecs(t *testing.T) {
	main := hvcC(0, false, 1, flags(1, 2), [6]byte{0xB0}, 93)
	for _, tt := range []struct {
		name  string
		entry []byte
		want  string
	}{
		{"avc1 High", visual("avc1", 1920, 1080, avcC(100, 0, 40)), "avc1.640028"},
		{"avc1 Baseline, constrained", visual("avc1", 1920, 1080, avcC(66, 0xE0, 30)), "avc1.42E01E"},
		{"avc3 (unknown to go-mp4)", visual("avc3", 1920, 1080, avcC(100, 0, 41)), "avc3.640029"},
		{"avc1, avcC after other boxes", visual("avc1", 1920, 1080, box("pasp", be32(1), be32(1)), avcC(77, 0x40, 31)), "avc1.4D401F"},
		{"avc1 without avcC", visual("avc1", 1920, 1080), "avc1"},
		{"hvc1 Main", visual("hvc1", 1920, 1080, main), "hvc1.1.6.L93.B0"},
		{"hev1 Main 10, high tier, space A", visual("hev1", 1920, 1080,
			hvcC(1, true, 2, flags(2), [6]byte{0x90, 0, 0, 0, 0, 1}, 120)), "hev1.A2.4.H120.90.0.0.0.0.1"},
		{"hvc1 without constraints", visual("hvc1", 1920, 1080, hvcC(0, false, 1, flags(1), [6]byte{}, 60)), "hvc1.1.2.L60"},
		{"av01 10-bit", visual("av01", 1920, 1080, av1C(0, 8, false, true, false)), "av01.0.08M.10"},
		{"av01 12-bit high tier", visual("av01", 1920, 1080, av1C(2, 13, true, true, true)), "av01.2.13H.12"},
		{"av01 without av1C", visual("av01", 1920, 1080), "av01"},
		{"vp09 profile 2", visual("vp09", 1920, 1080, vpcC(2, 10, 10)), "vp09.02.10.10"},
		{"vp08", visual("vp08", 1920, 1080, vpcC(0, 10, 8)), "vp08.00.10.08"},
		{"encrypted avc1", visual("encv", 1920, 1080, avcC(100, 0, 40), sinf("avc1")), "avc1.640028"},
		{"encrypted hvc1", visual("encv", 1920, 1080, sinf("hvc1"), main), "hvc1.1.6.L93.B0"},
		{"mp4v", visual("mp4v", 1920, 1080, fullBox("esds", 0, 0, make([]byte, 20))), "mp4v"},
		{"3GP H.263", visual("s263", 1920, 1080), "s263"},
		{"ProRes", visual("apcn", 1920, 1080), "apcn"},
		{"padded code", visual("raw ", 1920, 1080), "raw"},
		{"unprintable code", visual("av\x001", 1920, 1080), ""},
		{"a config of another codec", visual("avc1", 1920, 1080, main), "avc1"},
		{"QuickTime trailing zeros", visual("avc1", 1920, 1080, avcC(77, 0x40, 40), make([]byte, 4)), "avc1.4D4028"},
		{"entry too short for its fields", box("avc1", make([]byte, 20)), "avc1"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			info, err := read(t, file(box("moov", mvhd0(600, 6000), videoTrak(1920, 1080, tt.entry)), true))
			want := Info{DurationMillis: 10000, Width: 1920, Height: 1080, Codec: tt.want, FastStart: ptr(true)}
			if err != nil || !cmp.Equal(info, want) {
				t.Errorf("Read = %+v, %v; want %+v", info, err, want)
			}
		})
	}
}

func TestPictureSize(t *testing.T) {
	entry := visual("avc1", 1920, 1080, avcC(100, 0, 40))
	for _, tt := range []struct {
		name          string
		tkhd          tkhd
		entry         []byte
		width, height int
	}{
		{"rotated a quarter turn", tkhd{flags: 3, m: rotate90, width: px(1920), height: px(1080)}, entry, 1080, 1920},
		{"upside down", tkhd{flags: 3, m: rotate18, width: px(1920), height: px(1080)}, entry, 1920, 1080},
		// tkhd holds the display size: 1440 coded pixels of aspect 4:3 show as 1920.
		{"anamorphic", tkhd{flags: 3, width: px(1920), height: px(1080)}, visual("avc1", 1440, 1080), 1920, 1080},
		{"fractional", tkhd{flags: 3, width: 853<<16 | 0x5555, height: px(480)}, entry, 853, 480},
		{"rounded up", tkhd{flags: 3, width: 853<<16 | 0xC000, height: px(480)}, entry, 854, 480},
		{"no size in tkhd", tkhd{flags: 3}, entry, 1920, 1080},
		{"no size in tkhd, rotated", tkhd{flags: 3, m: rotate90}, entry, 1080, 1920},
		{"no size anywhere", tkhd{flags: 3}, visual("avc1", 0, 0), 0, 0},
		{"largest tkhd size", tkhd{flags: 3, width: math.MaxUint32, height: math.MaxUint32}, entry, 1 << 16, 1 << 16},
	} {
		t.Run(tt.name, func(t *testing.T) {
			info, err := read(t, file(box("moov", mvhd0(1000, 1000), trak(tt.tkhd, "vide", tt.entry)), false))
			if err != nil || info.Width != tt.width || info.Height != tt.height {
				t.Errorf("Read = %+v, %v; want %d×%d", info, err, tt.width, tt.height)
			}
		})
	}
}

func TestFirstVideoTrack(t *testing.T) {
	sound := trak(tkhd{flags: 3, duration: 5000}, "soun", audio("mp4a"))
	hevc := visual("hvc1", 3840, 2160, hvcC(0, false, 1, flags(1, 2), [6]byte{0xB0}, 150))
	avc := visual("avc1", 1280, 720, avcC(100, 0, 31))
	for _, tt := range []struct {
		name   string
		tracks [][]byte
		want   Info
	}{
		{"after an audio track", [][]byte{sound, videoTrak(1280, 720, avc)},
			Info{DurationMillis: 5000, Width: 1280, Height: 720, Codec: "avc1.64001F", FastStart: ptr(true)}},
		{"the first of two", [][]byte{videoTrak(1280, 720, avc), videoTrak(3840, 2160, hevc)},
			Info{DurationMillis: 5000, Width: 1280, Height: 720, Codec: "avc1.64001F", FastStart: ptr(true)}},
		{"an enabled one before a disabled one", [][]byte{
			trak(tkhd{flags: 2, width: px(3840), height: px(2160)}, "vide", hevc), videoTrak(1280, 720, avc)},
			Info{DurationMillis: 5000, Width: 1280, Height: 720, Codec: "avc1.64001F", FastStart: ptr(true)}},
		{"a disabled one when it is the only one", [][]byte{sound, trak(tkhd{flags: 2, width: px(3840), height: px(2160)}, "vide", hevc)},
			Info{DurationMillis: 5000, Width: 3840, Height: 2160, Codec: "hvc1.1.6.L150.B0", FastStart: ptr(true)}},
		{"audio only", [][]byte{sound}, Info{DurationMillis: 5000, FastStart: ptr(true)}},
		{"no tracks", nil, Info{DurationMillis: 5000, FastStart: ptr(true)}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			info, err := read(t, file(box("moov", mvhd0(1000, 5000), cat(tt.tracks...)), true))
			if err != nil {
				t.Errorf("Read: %v", err)
			}
			if diff := cmp.Diff(tt.want, info); diff != "" {
				t.Errorf("Info (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDuration(t *testing.T) {
	video := func(duration uint32) []byte {
		return trak(tkhd{flags: 3, duration: duration, width: px(640), height: px(480)}, "vide", visual("avc1", 640, 480))
	}
	for _, tt := range []struct {
		name string
		moov []byte
		want int64
	}{
		{"version 0", box("moov", mvhd0(600, 600*61+300), video(0)), 61500},
		// 5 hours and half a millisecond at 90 kHz, rounded up.
		{"version 1", box("moov", mvhd1(90000, 90000*5*3600+45), video(0)), 18_000_001},
		{"version 1 beyond 32 bits", box("moov", mvhd1(1000, 1<<33), video(0)), 1 << 33},
		{"rounded down", box("moov", mvhd0(3, 1), video(0)), 333},
		{"fragmented: mehd", box("moov", mvhd0(1000, 0), mvex(12345), video(0)), 12345},
		{"unknown in mvhd: mehd", box("moov", mvhd0(1000, math.MaxUint32), mvex(2500), video(0)), 2500},
		{"unknown in mvhd v1: mehd", box("moov", mvhd1(1000, math.MaxUint64), mvex(2500), video(0)), 2500},
		{"only in the video tkhd", box("moov", mvhd0(1000, 0), video(4321)), 4321},
		{"unknown everywhere", box("moov", mvhd0(1000, math.MaxUint32), video(math.MaxUint32)), 0},
		{"no timescale", box("moov", mvhd0(0, 1000), video(1000)), 0},
		{"beyond a century", box("moov", mvhd1(1, math.MaxUint64-1), video(0)), 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			info, err := read(t, file(tt.moov, false))
			if err != nil || info.DurationMillis != tt.want {
				t.Errorf("Read = %+v, %v; want %d ms", info, err, tt.want)
			}
		})
	}
}

func TestGarbageMoovGivesOnlyFastStart(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 300 {
		garbage := make([]byte, rng.IntN(4096))
		for j := range garbage {
			garbage[j] = byte(rng.Uint32())
		}
		if i%2 == 1 && len(garbage) >= 8 {
			// Plausible headers make the parser go deeper.
			copy(garbage, cat(be32(uint32(rng.IntN(len(garbage)+16))), []byte([]string{"mvhd", "trak", "mvex", "udta"}[i%4])))
		}
		fast := i%3 != 0
		info, err := read(t, file(box("moov", garbage), fast))
		if err == nil && info.DurationMillis == 0 {
			// A random payload that parses at all must at least hold an mvhd.
			t.Errorf("no error for %x", garbage)
		}
		if info.FastStart == nil || *info.FastStart != fast {
			t.Errorf("FastStart %v, want %v", info.FastStart, fast)
		}
	}
	for _, tt := range []struct {
		name string
		moov []byte
		want string // in the error
	}{
		{"empty", box("moov"), "no mvhd"},
		{"truncated mvhd", box("moov", mvhd0(1000, 1000)[:40]), "mvhd"},
		{"mvhd of an unknown version", box("moov", fullBox("mvhd", 7, 0, make([]byte, 120))), "mvhd"},
		{"a child smaller than its header", box("moov", be32(3), []byte("trak"), make([]byte, 40)), "less than its header"},
		{"a child larger than the moov", box("moov", be32(4000), []byte("trak"), make([]byte, 40)), "too large"},
		{"a child with a 64-bit size past the end", box("moov", be32(1), []byte("trak"), be64(math.MaxUint64), make([]byte, 40)), "too large"},
		{"compressed", box("moov", box("cmov", box("dcom", []byte("zlib")))), "cmov"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			info, err := read(t, file(tt.moov, true))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one about %q", err, tt.want)
			}
			if want := (Info{FastStart: ptr(true)}); !cmp.Equal(info, want) {
				t.Errorf("Info %+v, want %+v", info, want)
			}
		})
	}
}

func TestBrokenTrackCostsOnlyItself(t *testing.T) {
	// An audio trak whose stbl claims more bytes than the trak has.
	broken := box("trak", tkhd{flags: 3}.box(), box("mdia",
		fullBox("hdlr", 0, 0, be32(0), []byte("soun"), make([]byte, 12), []byte{0}),
		cat(be32(5000), []byte("minf"), make([]byte, 16))))
	moov := box("moov", mvhd0(1000, 3000), broken, videoTrak(1280, 720, visual("avc1", 1280, 720, avcC(100, 0, 31))))
	info, err := read(t, file(moov, true))
	want := Info{DurationMillis: 3000, Width: 1280, Height: 720, Codec: "avc1.64001F", FastStart: ptr(true)}
	if !cmp.Equal(info, want) {
		t.Errorf("Info %+v, want %+v", info, want)
	}
	if err == nil || !strings.Contains(err.Error(), "trak 1") {
		t.Errorf("error %v, want one about trak 1", err)
	}
}

func TestMoovThatCannotBeRead(t *testing.T) {
	good := mediaorigin.Video("r", 1<<20) // moov at the end
	st := check(t, good)
	moov, _ := st.Find("moov")
	gcsDown := errors.New("gcs: 503 Service Unavailable")
	for _, tt := range []struct {
		name string
		r    io.ReaderAt
		size int64
		st   mediacheck.Structure
		want Info
		is   error
	}{
		{"no moov", bytes.NewReader(good), int64(len(good)),
			mediacheck.Structure{Format: "iso-bmff", Boxes: st.Boxes[:2]}, Info{}, nil},
		{"too large", bytes.NewReader(nil), 1 << 40,
			mediacheck.Structure{Format: "iso-bmff", Boxes: []mediacheck.Box{
				{Type: "ftyp", Offset: 0, Size: 32}, {Type: "moov", Offset: 32, Size: MaxMoovSize + 1}, {Type: "mdat", Offset: 32 + MaxMoovSize + 1, Size: 1 << 30}}},
			Info{FastStart: ptr(true)}, nil},
		{"beyond the file", bytes.NewReader(good), moov.Offset + 100, st, Info{FastStart: ptr(false)}, nil},
		{"a negative size", bytes.NewReader(good), -1, st, Info{FastStart: ptr(false)}, nil},
		{"a size that overflows", bytes.NewReader(good), int64(len(good)),
			mediacheck.Structure{Format: "iso-bmff", Boxes: []mediacheck.Box{{Type: "moov", Offset: math.MaxInt64 - 8, Size: math.MaxInt64}}}, Info{FastStart: ptr(true)}, nil},
		{"a read error", errReader{gcsDown}, int64(len(good)), st, Info{FastStart: ptr(false)}, gcsDown},
		{"a short read", io.NewSectionReader(bytes.NewReader(good), 0, int64(len(good))-10), int64(len(good)), st,
			Info{FastStart: ptr(false)}, io.ErrUnexpectedEOF},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := &countingReader{r: tt.r}
			info, err := Read(c, tt.size, tt.st)
			if err == nil || tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error %v, want one (is %v)", err, tt.is)
			}
			if !cmp.Equal(info, tt.want) {
				t.Errorf("Info %+v, want %+v", info, tt.want)
			}
			if tt.is == nil && len(c.calls) > 0 {
				t.Errorf("reads %v, want none", c.calls)
			}
		})
	}
}

type errReader struct{ err error }

func (e errReader) ReadAt([]byte, int64) (int, error) { return 0, e.err }

// eofAtEnd answers a read that reaches the end with io.EOF, as ReaderAt
// allows even when it fills the buffer.
type eofAtEnd struct{ b []byte }

func (e eofAtEnd) ReadAt(p []byte, off int64) (int, error) {
	n, err := bytes.NewReader(e.b).ReadAt(p, off)
	if err == nil && off+int64(n) == int64(len(e.b)) {
		err = io.EOF
	}
	return n, err
}

func TestWholeReadWithEOF(t *testing.T) {
	b := mediaorigin.Video("eof", 1<<20) // moov at the end
	info, err := readFrom(t, eofAtEnd{b}, int64(len(b)), check(t, b))
	if err != nil || info.Codec != "avc1.4D401F" {
		t.Errorf("Read = %+v, %v", info, err)
	}
}

// TestStructureFromScanner reads with the Structure a Scanner found while
// the file streamed by, as a transfer has it.
func TestStructureFromScanner(t *testing.T) {
	b := mediaorigin.VideoWith("scan", 1<<20, mediaorigin.VideoOptions{FastStart: true, Width: 1920, Height: 1080, Duration: 7 * time.Second})
	s := mediacheck.NewScanner(int64(len(b)))
	if _, err := s.Write(b); err != nil {
		t.Fatal(err)
	}
	st, err := s.Close()
	if err != nil {
		t.Fatal(err)
	}
	info, err := readFrom(t, bytes.NewReader(b), int64(len(b)), st)
	want := Info{DurationMillis: 7000, Width: 1920, Height: 1080, Codec: "avc1.4D4028", FastStart: ptr(true)}
	if err != nil || !cmp.Equal(info, want) {
		t.Errorf("Read = %+v, %v; want %+v", info, err, want)
	}
}

// TestBoxBudget reads a moov of the largest size read, made of 8-byte
// boxes: 8 million of them, which would cost go-mp4 seconds and hundreds
// of MiB. Read stops at maxBoxes, keeping what it found before.
func TestBoxBudget(t *testing.T) {
	head := cat(mvhd0(1000, 4000), videoTrak(640, 480, visual("avc1", 640, 480, avcC(66, 0xC0, 30))))
	free := bytes.Repeat(box("free"), (MaxMoovSize-8-len(head))/8)
	moov := box("moov", head, free)
	if len(moov) > MaxMoovSize || len(moov) < MaxMoovSize-8 {
		t.Fatalf("a moov of %d bytes", len(moov))
	}
	start := time.Now()
	info, err := read(t, file(moov, true))
	want := Info{DurationMillis: 4000, Width: 640, Height: 480, Codec: "avc1.42C01E", FastStart: ptr(true)}
	if !cmp.Equal(info, want) {
		t.Errorf("Info %+v, want %+v", info, want)
	}
	if !errors.Is(err, errTooManyBoxes) {
		t.Errorf("error %v, want %v", err, errTooManyBoxes)
	}
	t.Logf("%v in %v", err, time.Since(start))
}

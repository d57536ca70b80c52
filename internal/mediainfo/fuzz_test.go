package mediainfo

import (
	"bytes"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/wochit-ingest/wochit-ingest/devstack/mediaorigin"
	"github.com/wochit-ingest/wochit-ingest/internal/mediacheck"
)

// FuzzRead checks that Read neither panics nor reads anything but the
// moov, in one piece, and that what it reports is within bounds: of data
// as a file, and of data as the payload of a moov in a file, which takes
// the fuzzer into the boxes Read parses without its having to find a
// whole file first.
func FuzzRead(f *testing.F) {
	for _, size := range []int{100, 300, 700, 4096} {
		f.Add(mediaorigin.Video("fuzz", size))
	}
	f.Add(mediaorigin.VideoWith("fuzz", 2048, mediaorigin.VideoOptions{FastStart: true, Width: 1920, Height: 1080, Duration: time.Minute}))
	f.Add(mediaorigin.WebM("fuzz", 100))
	f.Add(mediaorigin.Thumbnail("fuzz", 2, 2))
	hevc := hvcC(1, true, 2, flags(1, 2), [6]byte{0xB0, 0, 1}, 120)
	for _, moov := range [][]byte{
		box("moov", mvhd1(90000, 1<<40), mvex(9000),
			trak(tkhd{flags: 3, m: rotate90}, "vide", visual("hvc1", 1920, 1080, hevc)),
			trak(tkhd{flags: 3}, "soun", audio("mp4a"))),
		box("moov", mvhd0(1000, 1000), videoTrak(640, 480, visual("av01", 640, 480, av1C(0, 8, false, true, false)))),
		box("moov", mvhd0(1000, 1000), videoTrak(640, 480, visual("vp09", 640, 480, vpcC(2, 10, 10)))),
		box("moov", mvhd0(1000, 1000), videoTrak(640, 480, visual("encv", 640, 480, avcC(100, 0, 30), sinf("avc1")))),
		box("moov", box("cmov")),
	} {
		f.Add(file(moov, true))
		f.Add(moov[8:]) // for the moov-payload case
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		readAndCheck(t, data)
		readAndCheck(t, file(box("moov", data), len(data)%2 == 0))
	})
}

func readAndCheck(t *testing.T, data []byte) {
	st, _ := mediacheck.Check(bytes.NewReader(data), int64(len(data))) // a partial structure is given too
	c := &countingReader{r: bytes.NewReader(data)}
	info, _ := Read(c, int64(len(data)), st)
	if err := onlyMoovRead(st, c.calls); err != nil {
		t.Fatal(err)
	}
	_, hasMoov := st.Find("moov")
	if (info.FastStart != nil) != (st.Format == "iso-bmff" && hasMoov) {
		t.Fatalf("FastStart %v for a %q file (moov %v)", info.FastStart, st.Format, hasMoov)
	}
	if info.DurationMillis < 0 || info.Width < 0 || info.Height < 0 || info.Width > 1<<16 || info.Height > 1<<16 ||
		(info.Width == 0) != (info.Height == 0) {
		t.Fatalf("Info %+v out of bounds", info)
	}
	if len(info.Codec) > 64 || !utf8.ValidString(info.Codec) {
		t.Fatalf("codec %q", info.Codec)
	}
	for _, r := range info.Codec {
		if r < 0x21 || r > 0x7E {
			t.Fatalf("codec %q is not printable ASCII without spaces", info.Codec)
		}
	}
}

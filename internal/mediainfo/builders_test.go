package mediainfo

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"sync"
	"testing"

	"github.com/wochit-ingest/wochit-ingest/internal/mediacheck"
)

// Builders for moovs the generator does not make (other codecs, rotated or
// audio tracks, other mvhd versions), written from ISO/IEC 14496-12 and
// -15 and the AV1 and VP9 bindings rather than from the parser.

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func box(typ string, payload ...[]byte) []byte {
	body := cat(payload...)
	return cat(be32(uint32(8+len(body))), []byte(typ), body)
}

func fullBox(typ string, version byte, flags uint32, payload ...[]byte) []byte {
	return box(typ, append([]byte{version, byte(flags >> 16), byte(flags >> 8), byte(flags)}, cat(payload...)...))
}

func be16(v uint16) []byte { return binary.BigEndian.AppendUint16(nil, v) }
func be32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }
func be64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

var (
	identity = [9]int32{0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000}
	rotate90 = [9]int32{0, 0x10000, 0, -0x10000, 0, 0, 0, 0, 0x40000000}
	rotate18 = [9]int32{-0x10000, 0, 0, 0, -0x10000, 0, 0, 0, 0x40000000}
)

func matrix(m [9]int32) []byte {
	var b []byte
	for _, v := range m {
		b = binary.BigEndian.AppendUint32(b, uint32(v))
	}
	return b
}

// mvhd0 is a version 0 movie header.
func mvhd0(timescale, duration uint32) []byte {
	return fullBox("mvhd", 0, 0, be32(0), be32(0), be32(timescale), be32(duration),
		be32(0x10000), be16(0x100), make([]byte, 10), matrix(identity), make([]byte, 24), be32(3))
}

// mvhd1 is a version 1 movie header, with 64-bit times and duration.
func mvhd1(timescale uint32, duration uint64) []byte {
	return fullBox("mvhd", 1, 0, be64(0), be64(0), be32(timescale), be64(duration),
		be32(0x10000), be16(0x100), make([]byte, 10), matrix(identity), make([]byte, 24), be32(3))
}

// mehd is a movie extends box holding the fragment duration.
func mvex(fragmentDuration uint64) []byte {
	return box("mvex", fullBox("mehd", 1, 0, be64(fragmentDuration)))
}

// tkhd is a version 0 track header; width and height are 16.16 fixed point.
type tkhd struct {
	flags         uint32 // 1 enabled, 2 in movie
	duration      uint32
	m             [9]int32
	width, height uint32
}

func (h tkhd) box() []byte {
	m := h.m
	if m == ([9]int32{}) {
		m = identity
	}
	return fullBox("tkhd", 0, h.flags, be32(0), be32(0), be32(1), be32(0), be32(h.duration),
		make([]byte, 8), be16(0), be16(0), be16(0), be16(0), matrix(m), be32(h.width), be32(h.height))
}

func px(n int) uint32 { return uint32(n) << 16 }

// trak is a track with handler handler whose stsd holds entry.
func trak(header tkhd, handler string, entry []byte) []byte {
	return box("trak", header.box(),
		box("mdia",
			fullBox("mdhd", 0, 0, be32(0), be32(0), be32(12800), be32(0), be16(0x55C4), be16(0)),
			fullBox("hdlr", 0, 0, be32(0), []byte(handler), make([]byte, 12), []byte("handler\x00")),
			box("minf",
				box("stbl",
					fullBox("stsd", 0, 0, be32(1), entry),
					fullBox("stts", 0, 0, be32(0)),
					fullBox("stsz", 0, 0, be32(0), be32(0))))))
}

func videoTrak(w, h int, entry []byte) []byte {
	return trak(tkhd{flags: 3, width: px(w), height: px(h)}, "vide", entry)
}

// visual is a VisualSampleEntry of type typ and coded size w×h.
func visual(typ string, w, h uint16, children ...[]byte) []byte {
	return box(typ, make([]byte, 6), be16(1), make([]byte, 16), be16(w), be16(h),
		be32(0x480000), be32(0x480000), be32(0), be16(1), make([]byte, 32), be16(0x18), be16(0xFFFF),
		cat(children...))
}

// audio is an AudioSampleEntry of type typ.
func audio(typ string) []byte {
	return box(typ, make([]byte, 6), be16(1), make([]byte, 8), be16(2), be16(16), be16(0), be16(0), be32(48000<<16))
}

// avcC is an AVCDecoderConfigurationRecord with one SPS and one PPS that
// are only long enough to hold their profile and level.
func avcC(profile, constraints, level byte) []byte {
	sps := []byte{0x67, profile, constraints, level, 0xAC}
	return box("avcC", []byte{1, profile, constraints, level, 0xFF, 0xE1}, be16(uint16(len(sps))), sps,
		[]byte{1}, be16(2), []byte{0x68, 0xCE})
}

// hvcC is an HEVCDecoderConfigurationRecord without parameter sets.
func hvcC(space byte, tier bool, profile byte, compat uint32, constraints [6]byte, level byte) []byte {
	b := space<<6 | profile&31
	if tier {
		b |= 1 << 5
	}
	return box("hvcC", []byte{1, b}, be32(compat), constraints[:], []byte{level},
		[]byte{0xF0, 0x00, 0xFC, 0xFD, 0xF8, 0xF8, 0, 0, 0x0F, 0})
}

// flags packs general_profile_compatibility_flag[j] for each j given, as
// the bitstream has them: flag 0 first, in the most significant bit.
func flags(js ...int) uint32 {
	var v uint32
	for _, j := range js {
		v |= 1 << (31 - j)
	}
	return v
}

// av1C is an AV1CodecConfigurationRecord with no config OBUs.
func av1C(profile, level byte, highTier, highBitdepth, twelveBit bool) []byte {
	bit := func(v bool, shift uint) byte {
		if v {
			return 1 << shift
		}
		return 0
	}
	return box("av1C", []byte{0x81, profile<<5 | level&31,
		bit(highTier, 7) | bit(highBitdepth, 6) | bit(twelveBit, 5) | 0x0C, 0})
}

// vpcC is a version 1 VPCodecConfigurationRecord.
func vpcC(profile, level, bitDepth byte) []byte {
	return fullBox("vpcC", 1, 0, []byte{profile, level, bitDepth<<4 | 1<<1, 2, 2, 2}, be16(0))
}

// sinf is the protection scheme information of an encrypted entry whose
// original format is format.
func sinf(format string) []byte {
	return box("sinf", box("frma", []byte(format)), fullBox("schm", 0, 0, []byte("cenc"), be32(0x10000)))
}

// file is an MP4 with moov, before or after a small mdat.
func file(moovBox []byte, fastStart bool) []byte {
	ftyp := box("ftyp", []byte("isom"), be32(512), []byte("isomiso2avc1mp41"))
	mdat := box("mdat", bytes.Repeat([]byte{0xA5}, 1000))
	if fastStart {
		return cat(ftyp, moovBox, mdat)
	}
	return cat(ftyp, mdat, moovBox)
}

// countingReader records the ReadAt calls made on r.
type countingReader struct {
	r     io.ReaderAt
	mu    sync.Mutex
	calls []readCall
	bytes int64
}

type readCall struct{ off, n int64 }

func (c *countingReader) ReadAt(p []byte, off int64) (int, error) {
	c.mu.Lock()
	c.calls = append(c.calls, readCall{off, int64(len(p))})
	c.bytes += int64(len(p))
	c.mu.Unlock()
	return c.r.ReadAt(p, off)
}

// check is the structure mediacheck finds in b, which must be whole.
func check(t testing.TB, b []byte) mediacheck.Structure {
	t.Helper()
	st, err := mediacheck.Check(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatalf("mediacheck: %v", err)
	}
	return st
}

// read is Read of b, asserting that it read the moov alone, in one piece.
func read(t testing.TB, b []byte) (Info, error) {
	t.Helper()
	return readFrom(t, bytes.NewReader(b), int64(len(b)), check(t, b))
}

func readFrom(t testing.TB, r io.ReaderAt, size int64, st mediacheck.Structure) (Info, error) {
	t.Helper()
	c := &countingReader{r: r}
	info, err := Read(c, size, st)
	if err := onlyMoovRead(st, c.calls); err != nil {
		t.Fatal(err)
	}
	return info, err
}

// onlyMoovRead says what is wrong with calls for a file of structure st:
// a moov of at most MaxMoovSize read once, whole; nothing else.
func onlyMoovRead(st mediacheck.Structure, calls []readCall) error {
	moov, ok := st.Find("moov")
	switch {
	case len(calls) == 0:
		return nil
	case len(calls) > 1 || !ok:
		return fmt.Errorf("reads %v of a file whose moov is %+v (found %v)", calls, moov, ok)
	case calls[0] != readCall{moov.Offset, moov.Size} || moov.Size > MaxMoovSize:
		return fmt.Errorf("read %+v, want the moov %+v", calls[0], moov)
	}
	return nil
}

func ptr(v bool) *bool { return &v }

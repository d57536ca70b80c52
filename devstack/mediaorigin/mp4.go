package mediaorigin

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"math"
	"time"
)

// VideoOptions shape a generated MP4. The zero value is a 1280×720 video
// whose duration is its size at 4 Mbit/s.
type VideoOptions struct {
	// FastStart puts the moov before the mdat, as files prepared for
	// progressive download have it; by default it follows the mdat, as an
	// encoder writes it when it has finished.
	FastStart bool
	// Width and Height are the picture size in pixels (1–65535).
	Width, Height int
	// Duration is the video's length, rounded to whole frames of 1/25 s; 0
	// derives it from the size. There is at least one frame, and at least
	// one byte per frame.
	Duration time.Duration
	// MoovPadding, at least 8, adds a free box of that many bytes to the
	// moov: a moov as large as the sample tables of a long video make it.
	MoovPadding int
}

const (
	frameRate      = 25
	mediaTimescale = 12800 // ticks per second in the track, as ffmpeg uses for 25 fps
	sampleDelta    = mediaTimescale / frameRate
	movieTimescale = 1000 // the movie header counts milliseconds
	nominalBitrate = 4_000_000
	bytesPerFrame  = nominalBitrate / 8 / frameRate
)

// ftypBox declares ISO base media with AVC video, as encoders write it.
var ftypBox = mp4Box("ftyp", []byte("isom"), be32(512), []byte("isomiso2avc1mp41"))

// mp4Layout returns what goes before and after the pseudo-random payload of
// a size-byte MP4: ftyp, the mdat header and the moov. Files too small for
// a full moov get one with only a movie header, before the mdat; files
// under 156 bytes get the smallest layout mediacheck accepts (an empty
// moov, not valid ISO-BMFF), and under 32 bytes not even that.
func mp4Layout(size int64, o VideoOptions) (head, tail []byte) {
	t := track{width: cmp.Or(o.Width, 1280), height: cmp.Or(o.Height, 720), padding: o.MoovPadding}
	if t.width < 1 || t.width > math.MaxUint16 || t.height < 1 || t.height > math.MaxUint16 || o.Duration < 0 ||
		t.padding != 0 && t.padding < 8 {
		panic(fmt.Sprintf("mediaorigin: a video of %d×%d pixels and %v", t.width, t.height, o.Duration))
	}
	moovLen := int64(len(t.moov())) // the same whatever the sample counts
	mdatLen := size - int64(len(ftypBox)) - moovLen
	payload := mdatLen - int64(len(mdatHeader(mdatLen)))
	if payload < 1 {
		return smallLayout(size), nil
	}
	frames := int64(o.Duration+time.Second/frameRate/2) / int64(time.Second/frameRate)
	if o.Duration == 0 {
		frames = (payload + bytesPerFrame/2) / bytesPerFrame
	}
	// Every count is 32-bit: a frame holds at least a byte and at most
	// 4 GiB, and the track's duration fits its 32 bits.
	frames = min(max(frames, 1, (payload+math.MaxUint32-1)/math.MaxUint32), payload, math.MaxUint32/sampleDelta)
	t.samples, t.sampleSize = uint32(frames), uint32(min(payload/frames, math.MaxUint32))
	hdr := mdatHeader(mdatLen)
	if o.FastStart {
		t.chunkOffset = uint32(int64(len(ftypBox)) + moovLen + int64(len(hdr)))
		return cat(ftypBox, t.moov(), hdr), nil
	}
	t.chunkOffset = uint32(len(ftypBox) + len(hdr)) // the payload starts within the first KiB, so stco will do
	return cat(ftypBox, hdr), t.moov()
}

// smallLayout is the head of an MP4 too small for a track.
func smallLayout(size int64) []byte {
	if moov := mp4Box("moov", movieHeader(0)); size >= int64(len(ftypBox)+len(moov)+8) {
		return cat(ftypBox, moov, mdatHeader(size-int64(len(ftypBox)+len(moov))))
	}
	tiny := cat(mp4Box("ftyp", []byte("isom"), be32(0)), mp4Box("moov"))
	return cat(tiny, mdatHeader(max(size-int64(len(tiny)), 8)))[:min(size, 32)]
}

// mdatHeader is the header of an mdat box of n bytes, with a 64-bit size
// when n does not fit 32 bits.
func mdatHeader(n int64) []byte {
	if n > math.MaxUint32 {
		return cat(be32(1), []byte("mdat"), be64(uint64(n)))
	}
	return cat(be32(uint32(n)), []byte("mdat"))
}

// track is the one video track of a generated MP4: sample i (of samples,
// each sampleSize bytes) lies at chunkOffset + i*sampleSize, in one chunk.
type track struct {
	width, height       int
	samples, sampleSize uint32
	chunkOffset         uint32
	padding             int // bytes of a free box in the moov; 0: none
}

// moov is the movie box, laid out as ISO/IEC 14496-12 (8.2–8.7) says.
func (t track) moov() []byte {
	ms := uint32(uint64(t.samples) * 1000 / frameRate)
	return mp4Box("moov", movieHeader(ms),
		mp4Box("trak",
			fullBox("tkhd", 0, 3, // enabled, in the movie
				be32(0), be32(0), be32(1), be32(0), be32(ms), // creation and modification times, track_ID, reserved, duration
				make([]byte, 8), be16(0), be16(0), be16(0), be16(0), // reserved, layer, alternate_group, volume (video: 0), reserved
				unityMatrix, be32(uint32(t.width)<<16), be32(uint32(t.height)<<16)), // 16.16 fixed point
			mp4Box("mdia",
				fullBox("mdhd", 0, 0, be32(0), be32(0), be32(mediaTimescale), be32(t.samples*sampleDelta),
					be16(0x55C4), be16(0)), // language "und" packed in 5-bit letters, pre_defined
				fullBox("hdlr", 0, 0, be32(0), []byte("vide"), make([]byte, 12), []byte("VideoHandler\x00")),
				mp4Box("minf",
					fullBox("vmhd", 0, 1, be16(0), make([]byte, 6)),                       // graphicsmode copy, opcolor
					mp4Box("dinf", fullBox("dref", 0, 0, be32(1), fullBox("url ", 0, 1))), // the data is in this file
					mp4Box("stbl",
						fullBox("stsd", 0, 0, be32(1), t.sampleEntry()),
						fullBox("stts", 0, 0, be32(1), be32(t.samples), be32(sampleDelta)),
						fullBox("stsc", 0, 0, be32(1), be32(1), be32(t.samples), be32(1)),
						fullBox("stsz", 0, 0, be32(t.sampleSize), be32(t.samples)),
						fullBox("stco", 0, 0, be32(1), be32(t.chunkOffset)))))),
		t.free())
}

// free is the moov's padding box, if any.
func (t track) free() []byte {
	if t.padding == 0 {
		return nil
	}
	return mp4Box("free", make([]byte, t.padding-8))
}

// sampleEntry is the avc1 VisualSampleEntry (14496-12 12.1.3, 14496-15 5.4.2).
func (t track) sampleEntry() []byte {
	return mp4Box("avc1",
		make([]byte, 6), be16(1), // reserved, data_reference_index
		be16(0), be16(0), make([]byte, 12), be16(uint16(t.width)), be16(uint16(t.height)),
		be32(0x00480000), be32(0x00480000), be32(0), be16(1), // 72 dpi, reserved, frame_count
		make([]byte, 32), be16(0x0018), be16(0xFFFF), // compressorname (empty), depth, pre_defined -1
		mp4Box("avcC", avcConfig(t.width, t.height)))
}

// movieHeader is the mvhd box of a movie of ms milliseconds.
func movieHeader(ms uint32) []byte {
	return fullBox("mvhd", 0, 0, be32(0), be32(0), be32(movieTimescale), be32(ms),
		be32(0x00010000), be16(0x0100), make([]byte, 10), // rate 1.0, volume 1.0, reserved
		unityMatrix, make([]byte, 24), be32(2)) // pre_defined, next_track_ID
}

var unityMatrix = cat(be32(0x00010000), be32(0), be32(0), be32(0), be32(0x00010000), be32(0), be32(0), be32(0), be32(0x40000000))

func mp4Box(typ string, payload ...[]byte) []byte {
	body := cat(payload...)
	return cat(be32(uint32(8+len(body))), []byte(typ), body)
}

func fullBox(typ string, version byte, flags uint32, payload ...[]byte) []byte {
	return mp4Box(typ, append([]byte{version, byte(flags >> 16), byte(flags >> 8), byte(flags)}, cat(payload...)...))
}

func cat(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

func be16(v uint16) []byte { return binary.BigEndian.AppendUint16(nil, v) }
func be32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }
func be64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

package mediaorigin

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/fnv"
	"image"
	"image/color"
	"image/png"
	"io"
	"math/rand/v2"
)

// Video returns a size-byte MP4 (ftyp, mdat, moov) of a 1280×720 H.264
// track whose samples are pseudo-random bytes derived from seed: the same
// seed and size always give the same bytes, and the payloads of different
// seeds differ. See VideoWith for the layout of small sizes.
func Video(seed string, size int) []byte { return VideoWith(seed, size, VideoOptions{}) }

// VideoWith is Video shaped by opts. Sizes too small for a track (under
// about 640 bytes) get a moov with only a movie header, before the mdat;
// under 156 bytes the moov is empty (the 64-byte CanaryBody is one such),
// which mediacheck accepts but real parsers need not; under 32 bytes the
// result is only the start of a file.
func VideoWith(seed string, size int, opts VideoOptions) []byte {
	b := make([]byte, size)
	NewGeneratedWith(seed, int64(size), opts).ReadAt(b, 0)
	return b
}

// UnfinishedVideo returns what an origin serves while its encoder is still
// writing: ftyp and an mdat header declaring twice size bytes, then
// pseudo-random bytes to size, and no moov. size must be at least 40.
func UnfinishedVideo(seed string, size int) []byte {
	hdr := mdatHeader(2 * int64(size))
	if size < len(ftypBox)+len(hdr) {
		panic("mediaorigin: an unfinished video needs at least 40 bytes")
	}
	g := &Generated{seed: seedOf(seed), size: int64(size), head: cat(ftypBox, hdr)}
	b := make([]byte, size)
	g.ReadAt(b, 0)
	return b
}

// WebM returns a size-byte WebM file: an EBML header and a Segment holding
// one Void element of pseudo-random bytes. Its structure is whole (what
// mediacheck checks) but it has no tracks to play. size must be at least 57.
func WebM(seed string, size int) []byte {
	uint1 := func(id uint16, v byte) []byte { return []byte{byte(id >> 8), byte(id), 0x81, v} }
	header := cat(uint1(0x4286, 1), uint1(0x42F7, 1), uint1(0x42F2, 4), uint1(0x42F3, 8), // EBML versions, ID and size lengths
		[]byte{0x42, 0x82, 0x84}, []byte("webm"), uint1(0x4287, 4), uint1(0x4285, 2)) // DocType and its versions
	head := cat([]byte{0x1A, 0x45, 0xDF, 0xA3, 0x80 | byte(len(header))}, header)
	void := int64(size - len(head) - 12 - 9) // the Segment's and the Void's headers, with 8-byte sizes
	if void < 0 {
		panic("mediaorigin: a WebM needs at least 57 bytes")
	}
	head = cat(head, []byte{0x18, 0x53, 0x80, 0x67}, ebmlSize(uint64(9+void)), []byte{0xEC}, ebmlSize(uint64(void)))
	b := make([]byte, size)
	(&Generated{seed: seedOf(seed), size: int64(size), head: head}).ReadAt(b, 0)
	return b
}

// ebmlSize is v as an 8-byte EBML variable-length integer.
func ebmlSize(v uint64) []byte {
	b := be64(v)
	b[0] = 0x01
	return b
}

// Thumbnail returns a small PNG image whose pixels depend on seed.
func Thumbnail(seed string, width, height int) []byte {
	r := rand.New(rand.NewPCG(seedOf(seed), 1))
	img := image.NewNRGBA(image.Rect(0, 0, width, height))
	base := color.NRGBA{uint8(r.IntN(256)), uint8(r.IntN(256)), uint8(r.IntN(256)), 255}
	for y := range height {
		for x := range width {
			img.Set(x, y, color.NRGBA{base.R + uint8(x), base.G + uint8(y), base.B + uint8(x^y), 255})
		}
	}
	var buf bytes.Buffer
	_ = png.Encode(&buf, img)
	return buf.Bytes()
}

func seedOf(s string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(s))
	return h.Sum64()
}

// Generated is a size-byte MP4 produced on demand at any offset, as Video
// would produce it: only the boxes around the payload are held (under a
// KiB), so benchmarks use it for files of gigabytes.
type Generated struct {
	seed       uint64
	size       int64
	head, tail []byte // the bytes before and after the payload
}

// NewGenerated returns the content of Video(seed, size), of any size.
func NewGenerated(seed string, size int64) *Generated {
	return NewGeneratedWith(seed, size, VideoOptions{})
}

// NewGeneratedWith returns the content of VideoWith(seed, size, opts).
func NewGeneratedWith(seed string, size int64, opts VideoOptions) *Generated {
	head, tail := mp4Layout(size, opts)
	return &Generated{seed: seedOf(seed), size: size, head: head, tail: tail}
}

// ReadAt fills p with the content at off.
func (g *Generated) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("mediaorigin: negative offset")
	}
	if off >= g.size {
		return 0, io.EOF
	}
	n := int(min(int64(len(p)), g.size-off))
	q, at := p[:n], off
	if at < int64(len(g.head)) {
		k := copy(q, g.head[at:])
		q, at = q[k:], at+int64(k)
	}
	payloadEnd := g.size - int64(len(g.tail))
	if k := int(min(int64(len(q)), max(payloadEnd-at, 0))); k > 0 {
		g.random(q[:k], at)
		q, at = q[k:], at+int64(k)
	}
	copy(q, g.tail[min(max(at-payloadEnd, 0), int64(len(g.tail))):])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// random fills p with the payload at off: little-endian words of a hash of
// the seed and the word's index in the file.
func (g *Generated) random(p []byte, off int64) {
	for ; len(p) > 0 && off%8 != 0; p, off = p[1:], off+1 {
		p[0] = byte(splitmix64(g.seed^uint64(off/8)) >> (8 * (off % 8)))
	}
	for ; len(p) >= 8; p, off = p[8:], off+8 {
		binary.LittleEndian.PutUint64(p, splitmix64(g.seed^uint64(off/8)))
	}
	for i := range p {
		p[i] = byte(splitmix64(g.seed^uint64((off+int64(i))/8)) >> (8 * ((off + int64(i)) % 8)))
	}
}

// Size is the content's length.
func (g *Generated) Size() int64 { return g.size }

func splitmix64(x uint64) uint64 {
	x += 0x9E3779B97F4A7C15
	x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9
	x = (x ^ (x >> 27)) * 0x94D049BB133111EB
	return x ^ (x >> 31)
}

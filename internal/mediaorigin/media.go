package mediaorigin

import (
	"bytes"
	"encoding/binary"
	"hash/fnv"
	"image"
	"image/color"
	"image/png"
	"io"
	"math/rand/v2"
)

// Video returns size bytes that sniff as an MP4 file (an ISO-BMFF "ftyp"
// box) followed by pseudo-random data derived from seed: the same seed and
// size always give the same bytes, and different seeds differ everywhere.
func Video(seed string, size int) []byte {
	b := make([]byte, size)
	fillRandom(b, seed)
	header := []byte{0, 0, 0, 0x18, 'f', 't', 'y', 'p', 'i', 's', 'o', 'm', 0, 0, 2, 0, 'i', 's', 'o', 'm', 'm', 'p', '4', '1'}
	copy(b, header)
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

func fillRandom(b []byte, seed string) {
	r := rand.New(rand.NewPCG(seedOf(seed), 2))
	for i := 0; i+8 <= len(b); i += 8 {
		binary.LittleEndian.PutUint64(b[i:], r.Uint64())
	}
	for i := len(b) &^ 7; i < len(b); i++ {
		b[i] = byte(r.Uint64())
	}
}

func seedOf(s string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(s))
	return h.Sum64()
}

// Generated is size bytes of video-like content, produced on demand at any
// offset (nothing is held in memory): an MP4 signature, then pseudo-random
// words derived from seed. Benchmarks use it for files of gigabytes.
type Generated struct {
	seed uint64
	size int64
}

// NewGenerated returns generated content of size bytes.
func NewGenerated(seed string, size int64) *Generated {
	return &Generated{seed: seedOf(seed), size: size}
}

var mp4Header = []byte{0, 0, 0, 0x18, 'f', 't', 'y', 'p', 'i', 's', 'o', 'm', 0, 0, 2, 0, 'i', 's', 'o', 'm', 'm', 'p', '4', '1'}

// ReadAt fills p with the content at off.
func (g *Generated) ReadAt(p []byte, off int64) (int, error) {
	if off >= g.size {
		return 0, io.EOF
	}
	n := len(p)
	if rest := g.size - off; int64(n) > rest {
		n = int(rest)
	}
	var word [8]byte
	for i := 0; i < n; {
		pos := off + int64(i)
		w := uint64(pos / 8)
		binary.LittleEndian.PutUint64(word[:], splitmix64(g.seed^w))
		i += copy(p[i:n], word[pos%8:])
	}
	for i := off; i < int64(len(mp4Header)) && i < off+int64(n); i++ {
		p[i-off] = mp4Header[i]
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// Size is the content's length.
func (g *Generated) Size() int64 { return g.size }

func splitmix64(x uint64) uint64 {
	x += 0x9E3779B97F4A7C15
	x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9
	x = (x ^ (x >> 27)) * 0x94D049BB133111EB
	return x ^ (x >> 31)
}

package mediaorigin

import (
	"bytes"
	"encoding/binary"
	"hash/fnv"
	"image"
	"image/color"
	"image/png"
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

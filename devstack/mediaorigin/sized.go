package mediaorigin

import (
	"encoding/binary"
	"hash/crc32"
)

// PaddedThumbnail returns a size-byte PNG: Thumbnail(seed, 16, 16) with a
// private ancillary chunk ("prVt", which viewers skip) of pseudo-random
// bytes before its IEND, so tests and benchmarks get whole PNGs of any size
// above a few hundred bytes.
func PaddedThumbnail(seed string, size int) []byte {
	img := Thumbnail(seed, 16, 16)
	const iend = 12 // the IEND chunk: length, type, CRC
	pad := size - len(img) - 12
	if pad < 0 {
		panic("mediaorigin: a padded thumbnail needs a few hundred bytes")
	}
	b := make([]byte, 0, size)
	b = append(b, img[:len(img)-iend]...)
	chunk := make([]byte, 8+pad)
	binary.BigEndian.PutUint32(chunk, uint32(pad))
	copy(chunk[4:], "prVt")
	(&Generated{seed: seedOf(seed)}).random(chunk[8:], 0)
	b = append(b, chunk...)
	b = binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(chunk[4:]))
	return append(b, img[len(img)-iend:]...)
}

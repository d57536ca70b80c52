package mediacheck

import (
	"bytes"
	"encoding/binary"
	"image"
	"image/png"
)

// Builders for the files the tests check: each makes well-formed pieces,
// and a test breaks them on purpose.

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// box is an ISO-BMFF box with a 32-bit size.
func box(typ string, payload []byte) []byte {
	return boxSized(typ, uint32(8+len(payload)), payload)
}

// boxSized is a box whose header declares size, whatever its payload.
func boxSized(typ string, size uint32, payload []byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, size)
	return append(append(b, typ...), payload...)
}

// largeBox is a box with a 64-bit size (32-bit size 1).
func largeBox(typ string, size uint64, payload []byte) []byte {
	b := boxSized(typ, 1, nil)
	return append(binary.BigEndian.AppendUint64(b, size), payload...)
}

var (
	ftyp = box("ftyp", []byte("isom\x00\x00\x02\x00isomiso2avc1mp41")) // 32 bytes
	moov = box("moov", box("mvhd", make([]byte, 100)))
)

func mdat(n int) []byte { return box("mdat", bytes.Repeat([]byte{0xA5}, n)) }

// element is an EBML element with an 8-byte size.
func element(id []byte, data []byte) []byte {
	size := binary.BigEndian.AppendUint64(nil, uint64(len(data)))
	size[0] = 0x01 // the 8-byte length marker
	return cat(id, size, data)
}

var (
	idEBML    = []byte{0x1A, 0x45, 0xDF, 0xA3}
	idSegment = []byte{0x18, 0x53, 0x80, 0x67}
	idVoid    = []byte{0xEC}
	// ebmlHeader declares DocType "webm" (0x4282), as WebM files do.
	ebmlHeader = element(idEBML, []byte{0x42, 0x82, 0x84, 'w', 'e', 'b', 'm'})
	// unknownSize is the 8-byte EBML size with every data bit set.
	unknownSize = []byte{0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF}
)

func webm(segment int) []byte {
	return cat(ebmlHeader, element(idSegment, bytes.Repeat([]byte{0x5A}, segment)))
}

// riffFile is one RIFF chunk of form form; its size is taken from the data
// unless size is given.
func riffFile(form string, data []byte, size ...uint32) []byte {
	n := uint32(4 + len(data))
	if len(size) > 0 {
		n = size[0]
	}
	b := append([]byte("RIFF"), binary.LittleEndian.AppendUint32(nil, n)...)
	return append(append(b, form...), data...)
}

func pngImage() []byte {
	var buf bytes.Buffer
	if err := png.Encode(&buf, image.NewGray(image.Rect(0, 0, 4, 3))); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

package mediacheck

import (
	"bytes"
	"encoding/binary"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
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

// jpegImage is a baseline JPEG as image/jpeg encodes it: SOI, APP0-less
// DQT, SOF0, DHT, SOS and its data, EOI.
func jpegImage() []byte {
	var buf bytes.Buffer
	img := image.NewRGBA(image.Rect(0, 0, 24, 16))
	for i := range img.Pix {
		img.Pix[i] = byte(i * 37)
	}
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 90}); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

// segment is a JPEG marker segment with its length.
func segment(code byte, payload []byte) []byte {
	return cat([]byte{0xFF, code}, binary.BigEndian.AppendUint16(nil, uint16(2+len(payload))), payload)
}

// withEXIFThumbnail puts an APP1 segment holding a whole JPEG (its own SOI
// to EOI, as an EXIF thumbnail) right after the SOI of img.
func withEXIFThumbnail(img, thumb []byte) []byte {
	return cat(img[:2], segment(0xE1, cat([]byte("Exif\x00\x00"), thumb)), img[2:])
}

// gifImage is an animated GIF as image/gif encodes it: header and global
// color table, a looping application extension, then per frame a graphic
// control extension and an image.
func gifImage(frames int) []byte {
	pal := color.Palette{color.Black, color.White, color.RGBA{0x3B, 0x3B, 0x3B, 0xFF}}
	g := &gif.GIF{}
	for f := range frames {
		img := image.NewPaletted(image.Rect(0, 0, 20, 10), pal)
		for i := range img.Pix {
			img.Pix[i] = byte((i + f) % 3)
		}
		g.Image, g.Delay = append(g.Image, img), append(g.Delay, 10)
	}
	var buf bytes.Buffer
	if err := gif.EncodeAll(&buf, g); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

// gifBlocks is a GIF89a without color tables: a comment extension whose
// data holds trailer bytes (0x3B), then one 1×1 image.
func gifBlocks() []byte {
	header := cat([]byte("GIF89a"), []byte{1, 0, 1, 0, 0x00, 0, 0})
	comment := cat([]byte{0x21, 0xFE, 5}, []byte(";;;;;"), []byte{3}, []byte(";;;"), []byte{0})
	img := cat([]byte{0x2C, 0, 0, 0, 0, 1, 0, 1, 0, 0x00}, []byte{2, 2, 0x4C, 0x01, 0})
	return cat(header, comment, img, []byte{0x3B})
}

package mediacheck

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// format is one container's rules for its top-level headers.
type format struct {
	name     string
	noun     string // what the format calls a box
	header   int    // the longest header, read in one piece
	start    int64  // signature bytes before the first header
	required string // a box the file must contain
	// parse reads the header at the start of h. When h is too short it
	// returns the length it needs in len, and the walk reports the cut.
	parse func(h []byte, first bool) (parsed, error)
	// sequential, instead of parse, makes the parser of a format that is
	// read byte by byte (markers.go).
	sequential func(*walk) sequential
}

type parsed struct {
	typ  string
	len  int   // header bytes to read
	min  int   // the smallest size the header allows, when more than len
	size int64 // the whole box, header included, or toEnd
	last bool  // nothing may follow this box
	pad  bool  // an odd size is followed by a pad byte
}

// toEnd is the size of a box that runs to the end of the file.
const toEnd = -1

var (
	isoBMFF  = &format{name: "iso-bmff", noun: "box", header: 16, required: "moov", parse: parseBox}
	matroska = &format{name: "matroska", noun: "element", header: 12, required: "Segment", parse: parseElement}
	riff     = &format{name: "riff", noun: "chunk", header: 8, parse: parseRIFF}
	pngFile  = &format{name: "png", noun: "chunk", header: 8, start: 8, required: "IEND", parse: parsePNG}
	unknown  = &format{}
)

var (
	ebmlMagic = []byte{0x1A, 0x45, 0xDF, 0xA3}
	pngMagic  = []byte("\x89PNG\r\n\x1a\n")
)

// detect decides the format from the file's first bytes.
func detect(h []byte) *format {
	switch {
	case len(h) >= 8 && isISOStart(string(h[4:8])):
		return isoBMFF
	case bytes.HasPrefix(h, ebmlMagic):
		return matroska
	case bytes.HasPrefix(h, []byte("RIFF")):
		return riff
	case bytes.HasPrefix(h, pngMagic):
		return pngFile
	case bytes.HasPrefix(h, []byte{0xFF, 0xD8, 0xFF}):
		return jpegFile
	case bytes.HasPrefix(h, []byte("GIF87a")), bytes.HasPrefix(h, []byte("GIF89a")):
		return gifFile
	}
	return unknown
}

// isISOStart reports the box types an ISO-BMFF file starts with: ftyp, or
// one of the atoms older QuickTime files start with.
func isISOStart(typ string) bool {
	switch typ {
	case "ftyp", "moov", "mdat", "wide", "free", "skip", "pnot":
		return true
	}
	return false
}

// parseBox reads an ISO-BMFF box header (ISO/IEC 14496-12, 4.2): a 32-bit
// size, the type, and a 64-bit size when the 32-bit one is 1; size 0 means
// the box runs to the end of the file.
func parseBox(h []byte, _ bool) (parsed, error) {
	if len(h) < 8 {
		return parsed{len: 8}, nil
	}
	p := parsed{typ: string(h[4:8]), len: 8, size: int64(binary.BigEndian.Uint32(h))}
	switch p.size {
	case 0:
		p.size = toEnd
	case 1:
		p.len = 16
		if len(h) < 16 {
			return p, nil
		}
		p.size = clamp(binary.BigEndian.Uint64(h[8:]))
	}
	if p.typ == "uuid" {
		p.min = p.len + 16 // the extended type: not read, but the size must cover it
	}
	return p, nil
}

// EBML IDs of the top-level elements that have names here.
var elementNames = map[uint32]string{
	0x1A45DFA3: "EBML",
	0x18538067: "Segment",
	0xEC:       "Void",
	0xBF:       "CRC-32",
}

// parseElement reads an EBML element header (RFC 8794): an ID and a data
// size, both variable-length integers whose length is given by the leading
// zero bits of their first byte. A size of all one bits is unknown.
func parseElement(h []byte, first bool) (parsed, error) {
	idLen := vintLen(h[0])
	if idLen == 0 || idLen > 4 {
		return parsed{}, errors.New("an element ID longer than 4 bytes")
	}
	p := parsed{len: idLen + 1}
	if len(h) < p.len {
		return p, nil
	}
	sizeLen := vintLen(h[idLen])
	if sizeLen == 0 {
		return parsed{}, errors.New("an element size longer than 8 bytes")
	}
	if p.len = idLen + sizeLen; len(h) < p.len {
		return p, nil
	}
	var id uint32
	for _, c := range h[:idLen] {
		id = id<<8 | uint32(c)
	}
	p.typ = elementNames[id]
	if p.typ == "" {
		p.typ = fmt.Sprintf("0x%X", id)
	}
	data := uint64(h[idLen]) & (0xFF >> sizeLen)
	for _, c := range h[idLen+1 : p.len] {
		data = data<<8 | uint64(c)
	}
	if data == 1<<(7*sizeLen)-1 {
		if first {
			return parsed{}, errors.New("an EBML header of unknown size")
		}
		p.size = toEnd
		return p, nil
	}
	p.size = int64(p.len) + int64(data) // data < 2^56
	return p, nil
}

// vintLen is the length of the variable-length integer starting with b,
// 0 when b has no marker bit.
func vintLen(b byte) int {
	for n := 1; n <= 8; n++ {
		if b&(0x80>>(n-1)) != 0 {
			return n
		}
	}
	return 0
}

// parseRIFF reads a RIFF chunk header: a four-character ID and a
// little-endian size that excludes the header and the pad byte that follows
// an odd size. A file is one RIFF chunk, or several for AVI files over
// 1 GiB (OpenDML's RIFF AVIX), so any other top-level ID means the first
// chunk's size is wrong.
func parseRIFF(h []byte, _ bool) (parsed, error) {
	if len(h) < 8 {
		return parsed{len: 8}, nil
	}
	if id := string(h[:4]); id != "RIFF" {
		return parsed{}, fmt.Errorf("a %q chunk where a RIFF chunk must start", id)
	}
	return parsed{typ: "RIFF", len: 8, size: 8 + int64(binary.LittleEndian.Uint32(h[4:])), pad: true}, nil
}

// parsePNG reads a PNG chunk header: a length that excludes the header and
// the CRC, and the type. IEND ends the file.
func parsePNG(h []byte, _ bool) (parsed, error) {
	if len(h) < 8 {
		return parsed{len: 8}, nil
	}
	typ := string(h[4:8])
	return parsed{typ: typ, len: 8, size: 12 + int64(binary.BigEndian.Uint32(h)), last: typ == "IEND"}, nil
}

// clamp turns a 64-bit size into an int64, saturating: a box that large
// overruns any file.
func clamp(v uint64) int64 {
	if v > math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(v)
}

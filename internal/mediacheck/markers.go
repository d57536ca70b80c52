package mediacheck

import (
	"bytes"
	"fmt"
)

// JPEG and GIF have no top-level sizes to jump by: a JPEG's entropy-coded
// data runs until the next marker, a GIF's blocks are chains of sub-blocks
// of at most 255 bytes. Their structure is found by reading every byte in
// order, which is only worth it because thumbnails are small. What proves
// such a file whole is its end marker, reached by walking the structure: a
// JPEG's EOI after its scans (an EOI inside a segment, such as an EXIF
// thumbnail's in APP1, is skipped with the segment), a GIF's trailer after
// its blocks (a 0x3B inside a sub-block is skipped with it).
//
// Bytes after the end marker are tolerated (cameras and editors append
// trailers), but then the structure does not prove where the file ends.

// sequential is the parser of a format read byte by byte. It is given the
// file's bytes in order, from the first, in pieces of any size; w.total is
// the file's size when known (then it reports a segment that overruns it at
// once), or -1 until end is called.
type sequential interface {
	// write takes the next bytes and returns the verdict as soon as it is
	// known.
	write(p []byte) error
	// finished reports that the end marker was seen: nothing after it
	// needs reading.
	finished() bool
	// end is the end of the file, at w.total: the verdict.
	end() error
}

var (
	jpegFile = &format{name: "jpeg", noun: "marker segment", sequential: newJPEG}
	gifFile  = &format{name: "gif", noun: "block", sequential: newGIF}
)

// jpegScan walks JPEG marker segments (ITU T.81, B.1): a marker is 0xFF
// (after any number of 0xFF fill bytes) and a code; SOI, EOI, RSTn and TEM
// stand alone, every other marker has a 2-byte length that counts itself.
// After an SOS segment comes entropy-coded data, where 0xFF 0x00 is a data
// byte and 0xFF 0xD0–0xD7 a restart marker; any other marker ends it.
type jpegScan struct {
	w      *walk
	pos    int64 // offset of the next byte
	state  jpegState
	at     int64 // where the current marker starts (its first 0xFF)
	code   byte
	hi     byte  // the first length byte
	segEnd int64 // where the current segment ends
	box    int   // the current SOS box's index in w.s.Boxes; -1: not recorded
	scanAt int64 // where the current SOS segment starts
	scans  int
	done   int64 // where EOI ends; 0 until then
}

type jpegState int

const (
	jpegSOI    jpegState = iota // at 0: 0xFF 0xD8
	jpegMarker                  // a marker must start here
	jpegCode                    // after 0xFF: fill, or the code
	jpegLength1
	jpegLength2
	jpegSkip    // inside a segment, until segEnd
	jpegData    // entropy-coded data
	jpegDataFF  // entropy-coded data, after 0xFF
	jpegTrailer // after EOI
)

func newJPEG(w *walk) sequential { return &jpegScan{w: w, box: -1} }

func (j *jpegScan) finished() bool { return j.state == jpegTrailer }

func (j *jpegScan) write(p []byte) error {
	for len(p) > 0 {
		switch j.state {
		case jpegSkip:
			n := min(int64(len(p)), j.segEnd-j.pos)
			j.pos += n
			p = p[n:]
			if j.pos == j.segEnd {
				j.state = jpegMarker
				if j.code == 0xDA {
					j.state = jpegData
				}
			}
			continue
		case jpegData:
			i := bytes.IndexByte(p, 0xFF)
			if i < 0 {
				j.pos += int64(len(p))
				return nil
			}
			j.at, j.state = j.pos+int64(i), jpegDataFF
			j.pos += int64(i) + 1
			p = p[i+1:]
			continue
		case jpegTrailer:
			j.pos += int64(len(p))
			return nil
		}
		b := p[0]
		p = p[1:]
		if err := j.byte(b); err != nil {
			return err
		}
		j.pos++
	}
	return nil
}

// byte takes the byte at j.pos in the states that look at single bytes.
func (j *jpegScan) byte(b byte) error {
	w := j.w
	switch j.state {
	case jpegSOI:
		// detect saw 0xFF 0xD8 0xFF: the SOI is the first two bytes.
		if j.pos == 1 {
			w.record(Box{Type: "SOI", Offset: 0, Size: 2})
			j.state = jpegMarker
		}
	case jpegMarker:
		if b != 0xFF {
			return w.fail("a 0x%02X byte where a marker must start at offset %d", b, j.pos)
		}
		j.at, j.state = j.pos, jpegCode
	case jpegCode:
		return j.marker(b)
	case jpegDataFF:
		switch {
		case b == 0xFF: // fill
		case b == 0x00 || (b >= 0xD0 && b <= 0xD7): // a data 0xFF, a restart marker
			j.state = jpegData
		default: // a marker ends the scan's data
			if j.box >= 0 {
				w.s.Boxes[j.box].Size = j.at - w.s.Boxes[j.box].Offset
			}
			return j.marker(b)
		}
	case jpegLength1:
		j.hi, j.state = b, jpegLength2
	case jpegLength2:
		n := int64(j.hi)<<8 | int64(b)
		if n < 2 {
			return w.fail("%s at offset %d declares a length of %d, less than its 2 length bytes", markerName(j.code), j.at, n)
		}
		j.segEnd = j.pos + 1 + n - 2
		box := Box{Type: markerName(j.code), Offset: j.at, Size: j.segEnd - j.at}
		w.record(box)
		if j.code == 0xDA {
			j.scans++
			j.box, j.scanAt = w.lastIdx, j.at
		}
		if w.total >= 0 && j.segEnd > w.total {
			return j.overrun()
		}
		j.state = jpegSkip
		if j.pos+1 == j.segEnd {
			j.state = jpegMarker
			if j.code == 0xDA {
				j.state = jpegData
			}
		}
	}
	return nil
}

// marker takes the code of the marker that starts at j.at.
func (j *jpegScan) marker(b byte) error {
	w := j.w
	j.code = b
	switch {
	case b == 0xFF: // fill: the code follows
		j.state = jpegCode
	case b == 0x00:
		return w.fail("a stuffed 0xFF 0x00 where a marker must be, at offset %d", j.at)
	case b == 0xD8:
		return w.fail("a second SOI marker at offset %d", j.at)
	case b == 0xD9:
		w.record(Box{Type: "EOI", Offset: j.at, Size: j.pos + 1 - j.at})
		if j.scans == 0 {
			return w.fail("an EOI marker at offset %d before any scan (SOS): the file holds no image", j.at)
		}
		j.done, j.state = j.pos+1, jpegTrailer
	case b >= 0xD0 && b <= 0xD7, b == 0x01: // RSTn, TEM: no length
		w.record(Box{Type: markerName(b), Offset: j.at, Size: j.pos + 1 - j.at})
		j.state = jpegMarker
	default:
		j.state = jpegLength1
	}
	return nil
}

func (j *jpegScan) overrun() error {
	return j.w.fail("%s at offset %d declares %d bytes but the file ends at %d", markerName(j.code), j.at, j.segEnd-j.at, j.w.total)
}

func (j *jpegScan) end() error {
	w := j.w
	switch j.state {
	case jpegTrailer:
		w.s.EndProven = j.done == w.total
		return nil
	case jpegSkip:
		return j.overrun()
	case jpegCode, jpegLength1, jpegLength2:
		return w.fail("the marker segment header at offset %d is cut off by the end of the file at %d", j.at, w.total)
	case jpegData, jpegDataFF:
		return w.fail("the file ends at %d inside the data of the scan at offset %d, with no EOI marker", w.total, j.scanAt)
	}
	return w.fail("no EOI marker: the file ends at %d", w.total)
}

// markerName names the JPEG markers a file is made of.
func markerName(code byte) string {
	switch {
	case code >= 0xE0 && code <= 0xEF:
		return fmt.Sprintf("APP%d", code-0xE0)
	case code >= 0xD0 && code <= 0xD7:
		return fmt.Sprintf("RST%d", code-0xD0)
	case code >= 0xC0 && code <= 0xCF && code != 0xC4 && code != 0xC8 && code != 0xCC:
		return fmt.Sprintf("SOF%d", code-0xC0)
	}
	switch code {
	case 0xC4:
		return "DHT"
	case 0xCC:
		return "DAC"
	case 0xDA:
		return "SOS"
	case 0xDB:
		return "DQT"
	case 0xDD:
		return "DRI"
	case 0xDC:
		return "DNL"
	case 0xFE:
		return "COM"
	}
	return fmt.Sprintf("0xFF%02X", code)
}

// gifScan walks GIF blocks (GIF89a, 17–27): the header (signature, logical
// screen descriptor and global color table), then extensions (0x21, a
// label, sub-blocks) and images (0x2C, a descriptor, a local color table,
// the LZW code size, sub-blocks) until the trailer (0x3B). A sub-block is a
// size byte and that many bytes; size 0 ends the chain.
type gifScan struct {
	w      *walk
	pos    int64 // offset of the next byte
	state  gifState
	typ    string // the current block
	at     int64  // where it starts
	skip   int64  // where the bytes being skipped end
	after  gifState
	packed byte  // the screen descriptor's packed byte
	done   int64 // where the trailer ends; 0 until then
}

type gifState int

const (
	gifHeader     gifState = iota // the 13 bytes of signature and screen descriptor
	gifBlock                      // a block must start here
	gifLabel                      // an extension's label
	gifDescriptor                 // an image descriptor's 9 bytes
	gifCodeSize                   // an image's LZW minimum code size
	gifSubBlock                   // a sub-block's size byte
	gifSkip                       // until skip, then after
	gifTrailer                    // after the trailer
)

func newGIF(w *walk) sequential { return &gifScan{w: w, typ: "Header"} }

func (g *gifScan) finished() bool { return g.state == gifTrailer }

func (g *gifScan) write(p []byte) error {
	for len(p) > 0 {
		switch g.state {
		case gifSkip:
			n := min(int64(len(p)), g.skip-g.pos)
			g.pos += n
			p = p[n:]
			if g.pos == g.skip {
				g.state = g.after
			}
			continue
		case gifTrailer:
			g.pos += int64(len(p))
			return nil
		}
		if err := g.byte(p[0]); err != nil {
			return err
		}
		p = p[1:]
	}
	return nil
}

// byte takes the byte at g.pos and moves past it.
func (g *gifScan) byte(b byte) error {
	w := g.w
	at := g.pos
	g.pos++
	switch g.state {
	case gifHeader:
		if at == 12 {
			// The screen descriptor's packed byte (offset 10) says whether
			// a global color table follows, and its size.
			return g.skipTo(g.pos+colorTable(g.packed), gifBlock, true)
		}
		if at == 10 {
			g.packed = b
		}
	case gifBlock:
		g.at = at
		switch b {
		case 0x21:
			g.typ, g.state = "Extension", gifLabel
		case 0x2C:
			g.typ, g.state, g.skip = "Image", gifDescriptor, at+10
		case 0x3B:
			w.record(Box{Type: "Trailer", Offset: at, Size: 1})
			g.done, g.state = g.pos, gifTrailer
		default:
			return w.fail("a 0x%02X byte where a block must start at offset %d", b, at)
		}
	case gifLabel:
		g.state = gifSubBlock
	case gifDescriptor:
		if g.pos == g.skip { // the last byte is packed, as in the screen descriptor
			return g.skipTo(g.pos+colorTable(b), gifCodeSize, false)
		}
	case gifCodeSize:
		g.state = gifSubBlock
	case gifSubBlock:
		if b == 0 {
			w.record(Box{Type: g.typ, Offset: g.at, Size: g.pos - g.at})
			g.state = gifBlock
			return nil
		}
		return g.skipTo(g.pos+int64(b), gifSubBlock, false)
	}
	return nil
}

// skipTo skips the bytes up to end, then goes on in state after. The header
// is recorded as a block once its extent is known.
func (g *gifScan) skipTo(end int64, after gifState, header bool) error {
	if header {
		g.w.record(Box{Type: "Header", Offset: 0, Size: end})
	}
	if g.w.total >= 0 && end > g.w.total {
		return g.cut()
	}
	g.state, g.skip, g.after = gifSkip, end, after
	if g.pos == end {
		g.state = after
	}
	return nil
}

func (g *gifScan) cut() error {
	return g.w.fail("the %s block at offset %d is cut off by the end of the file at %d", g.typ, g.at, g.w.total)
}

func (g *gifScan) end() error {
	switch g.state {
	case gifTrailer:
		g.w.s.EndProven = g.done == g.w.total
		return nil
	case gifBlock:
		return g.w.fail("no trailer: the file ends at %d", g.w.total)
	}
	return g.cut()
}

// colorTable is the size of the color table a packed descriptor byte
// announces: 3 × 2^(n+1) bytes when its top bit is set.
func colorTable(packed byte) int64 {
	if packed&0x80 == 0 {
		return 0
	}
	return 3 << (packed&7 + 1)
}

// Package mediacheck tells whether a media file is whole: that the top-level
// structure of its container (ISO-BMFF boxes, EBML elements, RIFF or PNG
// chunks, JPEG marker segments, GIF blocks) accounts for every byte and
// contains what a player needs first (an MP4's moov, a WebM's Segment, a
// PNG's IEND, a JPEG's EOI, a GIF's trailer). A byte count and a CRC prove
// that we stored what the origin sent; this proves that what it sent was a
// finished file and not, say, an MP4 its encoder is still writing.
//
// Only headers are read, never payloads (but JPEG's and GIF's, which have
// no sizes to skip by, are read through), and nothing inside the top-level
// boxes is parsed: a structurally whole file whose metadata is unreadable
// still passes. Formats without a checker (MPEG-TS, MPEG-PS, ...) pass,
// but their structure never proves where they end (Structure.EndProven).
//
// Scanner checks a file as it streams by; Check walks a stored one with
// random access. Both drive the same walk and reach the same verdicts.
package mediacheck

import (
	"errors"
	"fmt"
	"io"
)

// Structure is what a check found: the container format and its top-level
// boxes (elements, chunks) in file order.
type Structure struct {
	// Format is "iso-bmff", "matroska", "riff", "png", "jpeg" or "gif";
	// "" when the file is in a format this package has no checker for.
	Format string
	// Boxes holds the first MaxBoxes top-level boxes; later ones are checked
	// but not recorded.
	Boxes []Box
	// EndProven reports that the structure itself shows where the file
	// ends: its boxes account for every byte with none running to the end
	// of the stream (an ISO-BMFF size-0 box, an EBML element of unknown
	// size), or it ends exactly with its end marker (PNG's IEND, JPEG's
	// EOI, GIF's trailer). Only such a file can be told whole from a body
	// whose length nobody declared, which ends wherever the connection
	// closed. Set only when the check passes.
	EndProven bool
}

// Box is one top-level box, element, chunk, marker segment or block.
type Box struct {
	// Type is the ISO-BMFF box type or RIFF/PNG chunk ID ("moov", "IEND"),
	// an EBML element's name ("EBML", "Segment", "Void") or hex ID, a JPEG
	// marker's name ("SOI", "APP1", "SOS": with its entropy-coded data) or
	// a GIF block's ("Header", "Extension", "Image", "Trailer").
	Type string
	// Offset and Size locate the whole box, header included.
	Offset, Size int64
}

// Find returns the first recorded box of type typ.
func (s Structure) Find(typ string) (Box, bool) {
	for _, b := range s.Boxes {
		if b.Type == typ {
			return b, true
		}
	}
	return Box{}, false
}

// Limits on what hostile input can cost.
const (
	// MaxBoxes is how many boxes a Structure records.
	MaxBoxes = 10000
	// MaxHeaders is how many top-level headers are walked before a file is
	// refused: each costs Check a ReadAt (a ranged GET), and real files have
	// a handful, or two per fragment for fragmented MP4 (a 10-hour file cut
	// in 1-second fragments has 72000).
	MaxHeaders = 100000
	// maxHeader is the longest header read in one piece: an ISO-BMFF box
	// with a 64-bit size, or an EBML ID (4) and size (8).
	maxHeader = 16
)

// IncompleteError says a file is not a whole file of its format: it is cut
// short, its structure does not account for its bytes, or it lacks a part
// the format requires.
type IncompleteError struct {
	Format string // as in Structure.Format
	Reason string
}

func (e *IncompleteError) Error() string {
	if e.Format == "" {
		return "incomplete file: " + e.Reason
	}
	return fmt.Sprintf("incomplete %s file: %s", e.Format, e.Reason)
}

// IsIncomplete reports whether err is (or wraps) an *IncompleteError.
func IsIncomplete(err error) bool {
	var ie *IncompleteError
	return errors.As(err, &ie)
}

// Check walks the size bytes of r, reading each top-level header with one
// ReadAt of at most 16 bytes: a typical MP4 (ftyp, mdat, moov) costs three.
// A JPEG or GIF is read through, in reads of 256 KiB, up to its end marker.
// Errors from r are returned wrapped; a verdict against the file is an
// *IncompleteError.
func Check(r io.ReaderAt, size int64) (Structure, error) {
	if size < 0 {
		return Structure{}, fmt.Errorf("mediacheck: negative size %d", size)
	}
	w := newWalk(size)
	var buf [maxHeader]byte
	for n := w.need(); n > 0; n = w.need() {
		h := buf[:n]
		got, err := r.ReadAt(h, w.pos)
		if got < n {
			if err == nil || err == io.EOF {
				err = io.ErrUnexpectedEOF // shorter than the size we were told
			}
			return w.s, fmt.Errorf("mediacheck: reading %d header bytes at offset %d: %w", n, w.pos, err)
		}
		if err := w.header(h); err != nil {
			return w.s, err
		}
	}
	if w.seq != nil {
		if err := readSequential(r, w); err != nil {
			return w.s, err
		}
	}
	return w.finish()
}

// sequentialBlock is how much of a JPEG or GIF Check reads at once.
const sequentialBlock = 256 << 10

// readSequential gives a format read byte by byte the rest of the file, in
// large reads, until its end marker.
func readSequential(r io.ReaderAt, w *walk) error {
	buf := make([]byte, min(sequentialBlock, max(w.total-w.pos, 0)))
	for w.pos < w.total && !w.seq.finished() {
		n := int(min(int64(len(buf)), w.total-w.pos))
		got, err := r.ReadAt(buf[:n], w.pos)
		if got < n {
			if err == nil || err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return fmt.Errorf("mediacheck: reading %d bytes at offset %d: %w", n, w.pos, err)
		}
		if err := w.stream(buf[:n]); err != nil {
			return err
		}
	}
	return nil
}

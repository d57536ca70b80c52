package mediacheck

import (
	"errors"
	"fmt"
	"math"
)

// walk is the core both entry points drive. It asks (need) for the header
// at pos, is given it (header), moves pos past the box, and at the end of
// the file (finish) gives the verdict. It never sees a payload.
type walk struct {
	total int64 // the file's size; -1 until known (a Scanner of unknown size)
	pos   int64 // where the next header starts, or where the file must end
	f     *format
	s     Structure
	last  Box // the latest box, recorded or not
	// lastIdx is last's index in s.Boxes, or -1 when it was not recorded.
	lastIdx int
	headers int
	// open means the latest box runs to the end of the file, whatever that
	// is (an ISO-BMFF size 0, an EBML unknown size); nothing more is checked.
	open bool
	// closed means nothing may follow the latest box (PNG's IEND).
	closed bool
	// padded means the latest box is an odd-sized RIFF chunk: a pad byte
	// follows it, but may be missing at the very end of the file.
	padded bool
	found  bool // the box the format requires was seen
	// seq parses a format read byte by byte (JPEG, GIF) instead of the
	// headers; pos is then how many bytes it was given.
	seq sequential
	err error
}

func newWalk(total int64) *walk { return &walk{total: total, lastIdx: -1} }

// need is how many bytes header wants at pos: the format's longest header,
// cut to what the file has left; 0 when no more headers are to be read.
func (w *walk) need() int {
	if w.err != nil || w.open || w.closed || w.seq != nil {
		return 0
	}
	n := int64(maxHeader)
	if w.f != nil {
		n = int64(w.f.header)
	}
	if w.total >= 0 {
		if w.pos >= w.total {
			return 0
		}
		n = min(n, w.total-w.pos)
	}
	return int(n)
}

// errShort is header's answer to bytes that end before the header does
// where the file may go on: a Scanner waits for more. Check always gives
// whole headers.
var errShort = errors.New("mediacheck: more header bytes needed")

// header takes the bytes at pos: need() of them, or fewer when they hold
// the header, or when the file ends there.
func (w *walk) header(h []byte) error {
	if w.f == nil {
		if len(h) < w.need() {
			return errShort
		}
		w.f = detect(h)
		w.s.Format = w.f.name
		if w.f.sequential != nil {
			w.seq = w.f.sequential(w)
			return w.stream(h)
		}
		if w.f.parse == nil {
			w.open = true // no checker: anything passes
			return nil
		}
		w.pos = w.f.start
		if w.pos >= int64(len(h)) {
			return nil // the signature alone; the first header is read next
		}
		h = h[w.pos:]
	}
	b, err := w.f.parse(h, w.headers == 0)
	if err == nil && len(h) < b.len {
		if len(h) < w.need() {
			return errShort
		}
		return w.fail("the %s header at offset %d is cut off by the end of the file at %d", w.f.noun, w.pos, w.pos+int64(len(h)))
	}
	if err != nil {
		return w.fail("%s at offset %d", err, w.pos)
	}
	if w.headers++; w.headers > MaxHeaders {
		return w.fail("more than %d top-level headers, too many to check", MaxHeaders)
	}
	box := Box{Type: b.typ, Offset: w.pos, Size: b.size}
	if b.size == toEnd {
		box.Size = -1 // set by finish, unless the size is already known
		if w.total >= 0 {
			box.Size = w.total - w.pos
		}
	}
	w.record(box)
	w.found = w.found || b.typ == w.f.required
	if b.size == toEnd {
		w.open, w.pos = true, math.MaxInt64
		return nil
	}
	if least := max(b.len, b.min); b.size < int64(least) {
		return w.fail("%s at offset %d declares %d bytes, less than its %d-byte header", b.typ, box.Offset, b.size, least)
	}
	w.pos = box.Offset + b.size
	if w.pos < box.Offset {
		w.pos = math.MaxInt64 // a 64-bit size near the top of the range
	}
	w.closed, w.padded = b.last, b.pad && b.size%2 == 1
	if w.padded {
		w.pos++
	}
	return w.bounds()
}

// stream gives a sequential format's parser the file's next bytes.
func (w *walk) stream(p []byte) error {
	if w.err != nil {
		return w.err
	}
	w.pos += int64(len(p))
	return w.seq.write(p)
}

// record appends box to the Structure while there is room.
func (w *walk) record(box Box) {
	w.last, w.lastIdx = box, -1
	if len(w.s.Boxes) < MaxBoxes {
		w.lastIdx = len(w.s.Boxes)
		w.s.Boxes = append(w.s.Boxes, box)
	}
}

// bounds checks, once the size is known, that the latest box ends within
// the file and, when nothing may follow it, that the file ends with it.
func (w *walk) bounds() error {
	if w.total < 0 {
		return nil
	}
	if w.padded && w.pos == w.total+1 {
		w.pos = w.total // RIFF readers accept a final pad byte left out
	}
	if w.pos > w.total {
		return w.fail("%s at offset %d declares %d bytes but the file ends at %d", w.last.Type, w.last.Offset, w.last.Size, w.total)
	}
	if w.closed && w.pos < w.total {
		return w.trailing()
	}
	return nil
}

// trailing is the verdict on bytes after a box nothing may follow.
func (w *walk) trailing() error {
	return w.fail("the file goes on after the %s %s that ends at offset %d", w.last.Type, w.f.noun, w.pos)
}

// finish gives the verdict once every header was given and w.total is set.
func (w *walk) finish() (Structure, error) {
	if w.err != nil {
		return w.s, w.err
	}
	if w.seq != nil {
		return w.s, w.seq.end()
	}
	if w.f == nil || w.f.parse == nil {
		return Structure{}, nil
	}
	if w.open {
		if w.last.Size < 0 {
			w.last.Size = w.total - w.last.Offset
			if w.lastIdx >= 0 {
				w.s.Boxes[w.lastIdx].Size = w.last.Size
			}
		}
	} else if err := w.bounds(); err != nil {
		return w.s, err
	}
	if !w.found && w.f.required != "" {
		return w.s, w.fail("no %s %s", w.f.required, w.f.noun)
	}
	// The boxes account for every byte: the file ends where they do,
	// unless the last one runs to wherever the stream stopped.
	w.s.EndProven = !w.open
	return w.s, nil
}

// fail records the verdict; the walk stops there.
func (w *walk) fail(format string, args ...any) error {
	w.err = &IncompleteError{Format: w.f.name, Reason: fmt.Sprintf(format, args...)}
	return w.err
}

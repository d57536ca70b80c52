package mediacheck

import "fmt"

// Scanner checks a file while it is written to it: it keeps the bytes of
// one header at a time (at most 16) and counts its way past payloads, so it
// costs next to nothing on the copy path. Write fails as soon as the file
// is known to be incomplete (with a declared size: as soon as a header
// declares a box past it), so a copy through it stops early; Close gives
// the verdict on the whole file. A Scanner is not safe for concurrent use.
type Scanner struct {
	w    *walk
	seen int64 // bytes written
	buf  [maxHeader]byte
	n    int // bytes in buf; they are the file's bytes from w.pos on
	err  error
}

// NewScanner returns a Scanner for a file of total bytes, or of a size not
// known in advance when total is -1.
func NewScanner(total int64) *Scanner {
	if total < 0 {
		total = -1
	}
	return &Scanner{w: newWalk(total)}
}

// Write takes the file's next bytes. It returns an *IncompleteError as soon
// as the file is known to be incomplete, and an error when more than the
// declared total is written; every later call returns the same error.
func (s *Scanner) Write(p []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	if t := s.w.total; t >= 0 && int64(len(p)) > t-s.seen {
		s.err = fmt.Errorf("mediacheck: %d bytes written, more than the declared %d", s.seen+int64(len(p)), t)
		return 0, s.err
	}
	written := len(p)
	for len(p) > 0 {
		if s.w.seq != nil { // a format read byte by byte: all of it
			if err := s.w.stream(p); err != nil {
				s.err = err
				return 0, err
			}
			s.seen += int64(len(p))
			break
		}
		if s.seen < s.w.pos { // a payload: count past it
			skip := int(min(int64(len(p)), s.w.pos-s.seen))
			s.seen += int64(skip)
			p = p[skip:]
			continue
		}
		want := s.w.need()
		if want == 0 {
			if s.w.closed {
				s.err = s.w.trailing()
				return written - len(p), s.err
			}
			s.seen += int64(len(p)) // the rest cannot be checked (or need not be)
			break
		}
		take := copy(s.buf[s.n:want], p)
		s.n += take
		s.seen += int64(take)
		p = p[take:]
		if err := s.feed(); err != nil {
			s.err = err
			return written - len(p), err
		}
	}
	return written, nil
}

// feed gives the walk the headers in buf, as soon as each is whole. What
// buf holds past a header moves to the front: it is the start of the next
// header, or of a payload.
func (s *Scanner) feed() error {
	for s.n > 0 {
		want := s.w.need()
		if want == 0 {
			if s.w.closed {
				return s.w.trailing()
			}
			s.n = 0 // the latest box runs to the end: this is its payload
			return nil
		}
		start := s.w.pos
		if err := s.w.header(s.buf[:min(s.n, want)]); err == errShort {
			return nil
		} else if err != nil {
			return err
		}
		used := s.w.pos - start
		if used >= int64(s.n) {
			s.n = 0
			return nil
		}
		s.n = copy(s.buf[:], s.buf[used:s.n])
	}
	return nil
}

// EndUnprovable reports that what was written already shows that the
// structure cannot prove where the file ends (Structure.EndProven): its
// format has no checker, or a box runs to the end of the stream (an
// ISO-BMFF box of size 0, an EBML element of unknown size).
func (s *Scanner) EndUnprovable() bool {
	return s.err == nil && s.w.open
}

// Close is the end of the file: it returns the verdict and the structure
// found. A file shorter than its declared total is incomplete.
func (s *Scanner) Close() (Structure, error) {
	if s.err != nil {
		return s.w.s, s.err
	}
	if s.w.total < 0 {
		s.w.total = s.seen
	} else if s.seen < s.w.total {
		s.err = &IncompleteError{Format: s.w.s.Format, Reason: fmt.Sprintf("the stream ended after %d of %d bytes", s.seen, s.w.total)}
		return s.w.s, s.err
	}
	// With the size now known, what is buffered is a header cut short by the end
	// of the file, or one that was waiting for bytes the file does not have.
	if err := s.feed(); err != nil {
		s.err = err
		return s.w.s, err
	}
	st, err := s.w.finish()
	s.err = err
	return st, err
}

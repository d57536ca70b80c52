package transfer

import (
	"net/http"
	"time"

	"github.com/wochit-ingest/wochit-ingest/contract"

	"github.com/wochit-ingest/wochit-ingest/internal/failure"
	"github.com/wochit-ingest/wochit-ingest/internal/mediacheck"
	"github.com/wochit-ingest/wochit-ingest/transfer/origin"
)

// Byte counts and checksums prove that we stored what the origin sent, not
// that it sent a whole file: an origin may serve an MP4 its encoder is
// still writing (an mdat declaring bytes that do not exist yet, no moov).
// Every copy path checks the file's top-level structure (mediacheck) before
// the object can exist: the single stream and small files as their bytes go
// by, parts once all are verified and before they are composed. Only box
// headers are read, so a whole file whose metadata cannot be parsed is
// still stored.

// maxIncompleteWait is how long a file may stay unfinished, from the attempt
// that first found it so, before the transfer gives up: long enough for an
// encoder to finish, short of tying up the retries until the link expires.
const maxIncompleteWait = 10 * time.Minute

// incompleteMedia turns a structure check's verdict into the attempt's
// error: retried (with the workflow's backoff) while the origin may still be
// finishing the file, final once maxIncompleteWait has passed.
func (c *copier) incompleteMedia(source string, verdict error) error {
	now := c.opts.Now()
	since := c.progress.markIncomplete(now)
	if waited := now.Sub(since); waited >= maxIncompleteWait {
		return failure.Permanent(contract.IncompleteMedia, nil, "the %s at %s is still not a whole file %s after it was first found unfinished: %v",
			c.dst.Kind, source, waited.Round(time.Second), verdict)
	}
	return failure.Retryable(contract.IncompleteMedia, nil, "the %s at %s is not a whole file (the origin may still be writing it): %v", c.dst.Kind, source, verdict)
}

// checkHead looks at the first bytes of a file of total bytes (-1: unknown)
// for a verdict they already give — typically a box declared past the end —
// so an unfinished file is refused before it is copied.
func checkHead(head []byte, total int64) error {
	if total >= 0 && int64(len(head)) > total {
		return nil // not this file's bytes alone: leave it to the full check
	}
	if _, err := mediacheck.NewScanner(total).Write(head); mediacheck.IsIncomplete(err) {
		return err
	}
	return nil
}

// A body whose length nobody declared (origin.CloseDelimited) ends where
// the connection closed, whether the origin sent the whole file or the
// connection dropped: only a structure that shows where the file ends
// (mediacheck's Structure.EndProven — a JPEG's EOI, a PNG's IEND, a GIF's
// trailer, RIFF's size, ISO-BMFF boxes tiling the file with a moov) tells
// the two apart. Such a body is stored only when it proves its end.

// checkUndelimitedHead refuses a close-delimited body, before any more of
// it is read, when its first bytes show that its format could never prove
// where it ends (MPEG-TS, Matroska of unknown size…).
func (c *copier) checkUndelimitedHead(resp *http.Response, head []byte) error {
	if !origin.CloseDelimited(resp) {
		return nil
	}
	s := mediacheck.NewScanner(-1)
	s.Write(head)
	if s.EndUnprovable() {
		st, _ := s.Close()
		return c.undelimited(st.Format)
	}
	return nil
}

// wholeStream is the verdict on a streamed file once its last byte has
// arrived: its structure must be whole and, when nobody declared its
// length, show where it ends.
func (c *copier) wholeStream(source string, resp *http.Response, size int64, structure *mediacheck.Scanner) error {
	st, err := structure.Close()
	switch {
	case !origin.CloseDelimited(resp):
		if err != nil {
			return c.incompleteMedia(source, err)
		}
	case err != nil:
		// The connection closed inside the file: most likely it was cut.
		return failure.Retryable(contract.IncompleteBody, nil, "the origin sent %s without a length and closed the connection after %d bytes, inside the file: %v",
			source, size, err)
	case !st.EndProven:
		return c.undelimited(st.Format)
	}
	return nil
}

// undelimited is the failure of a close-delimited body whose format cannot
// prove where it ends: another attempt gets the same framing, so it is
// final.
func (c *copier) undelimited(format string) error {
	why := "its format has no structure that marks where it ends (MPEG-TS, MPEG-PS…)"
	if format != "" {
		why = "its " + format + " structure does not mark where it ends (its last box runs to the end of the stream, or bytes follow its end marker)"
	}
	return failure.Permanent(contract.UndelimitedBody, nil,
		"the origin sends the %s at %s without a length (neither Content-Length nor chunked), so it ends wherever the connection closes, and %s: a cut connection cannot be told from the whole file",
		c.dst.Kind, c.source, why)
}

// checkChunks checks a file held in memory.
func checkChunks(chunks [][]byte, size int64) error {
	s := mediacheck.NewScanner(size)
	for _, c := range chunks {
		if _, err := s.Write(c); err != nil {
			return err
		}
	}
	_, err := s.Close()
	return err
}

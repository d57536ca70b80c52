package transfer

import (
	"time"

	"github.com/wochit-ingest/wochit-ingest/contract"

	"github.com/wochit-ingest/wochit-ingest/internal/mediacheck"
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
		return permanent(contract.IncompleteMedia, nil, "the %s at %s is still not a whole file %s after it was first found unfinished: %v",
			c.dst.Kind, source, waited.Round(time.Second), verdict)
	}
	return retryable(contract.IncompleteMedia, nil, "the %s at %s is not a whole file (the origin may still be writing it): %v", c.dst.Kind, source, verdict)
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

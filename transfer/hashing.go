package transfer

// Moving bytes from an origin's body into an upload: buffers, hashes, counts.

import (
	"crypto/md5"
	"hash"
	"hash/crc32"
	"io"
	"sync"
	"sync/atomic"

	"cloud.google.com/go/storage"

	"github.com/wochit-ingest/wochit-ingest/internal/crc32c"
)

// smallFileChunk is the unit a small file's in-memory buffer grows by: it
// grows as bytes arrive, and without copying what it holds (doubling a
// slice would leave as much garbage as the file again).
const smallFileChunk = 256 << 10

// readUpTo reads r to its end, but no more than max+1 bytes (so a body
// longer than announced is noticed), into chunks allocated as bytes arrive.
func readUpTo(r io.Reader, max int64, onRead func(int)) (chunks [][]byte, n int64, err error) {
	for {
		if len(chunks) == 0 || len(chunks[len(chunks)-1]) == cap(chunks[len(chunks)-1]) {
			if n > max {
				return chunks, n, nil
			}
			chunks = append(chunks, make([]byte, 0, min(smallFileChunk, max+1-n)))
		}
		last := chunks[len(chunks)-1]
		k, err := r.Read(last[len(last):cap(last)])
		chunks[len(chunks)-1] = last[:len(last)+k]
		n += int64(k)
		if k > 0 {
			onRead(k)
		}
		if err == io.EOF {
			return chunks, n, nil
		}
		if err != nil {
			return chunks, n, err
		}
	}
}

// copyBufferSize is the unit a transfer moves from origin to upload: large
// enough that the hand-offs between the HTTP body, the hashes and the upload
// pipe cost little per byte.
const copyBufferSize = 1 << 20

var copyBuffers = sync.Pool{New: func() any { b := make([]byte, copyBufferSize); return &b }}

func copyBuffered(w io.Writer, r io.Reader) (int64, error) {
	buf := copyBuffers.Get().(*[]byte)
	defer copyBuffers.Put(buf)
	return io.CopyBuffer(w, onlyReader{r}, *buf)
}

// onlyReader hides any WriterTo, so io.CopyBuffer uses the buffer.
type onlyReader struct{ io.Reader }

// unbufferedCopySize is the copy unit of an upload without a chunk buffer:
// those run when memory is short, possibly by the hundred, so they hash
// MD5 in line with one small buffer.
const unbufferedCopySize = 32 << 10

// copyChunked copies r into an upload with a chunk buffer, which the
// storage client sends with the CRC32C of every byte on its finalizing
// request (its automatic checksum, on unless DisableAutoChecksum): GCS
// refuses to create the object if the bytes it received have another. GCS
// computes the MD5 of an object it writes in one piece itself (see
// wholeObjectMD5), so the copy computes one only to check an MD5 the origin
// declared, before the object exists; otherwise it returns nil. MD5 would
// otherwise be most of a single stream's CPU (about 1.6 CPU-s/GiB on an
// AMD EPYC, against about 1 for the rest of the copy).
func copyChunked(w io.Writer, r io.Reader, withMD5 bool) ([]byte, error) {
	if withMD5 {
		return copyWithMD5(w, r)
	}
	_, err := copyBuffered(w, r)
	return nil, err
}

// wholeObjectMD5 is the MD5 GCS computed of an object it wrote in one piece
// (an upload, not a compose): it describes the very bytes whose CRC32C GCS
// checked against ours before the object existed. Composite objects have
// none; nil then.
func wholeObjectMD5(attrs *storage.ObjectAttrs) []byte {
	if attrs.ComponentCount > 0 || len(attrs.MD5) != md5.Size {
		return nil
	}
	return attrs.MD5
}

// md5Buffers is how many buffers are in flight between the copy and the MD5
// goroutine: enough to keep both busy, few enough to bound memory.
const md5Buffers = 4

// copyWithMD5 copies r to w and returns the MD5 of the bytes copied. MD5 is
// by far the costliest step of a single-stream transfer (about four times
// CRC32C and the copy together), so it runs in its own goroutine, one buffer
// behind the copy, instead of in line.
func copyWithMD5(w io.Writer, r io.Reader) ([]byte, error) {
	free := make(chan []byte, md5Buffers)
	for range md5Buffers {
		free <- make([]byte, copyBufferSize)
	}
	filled := make(chan []byte, md5Buffers)
	sum := make(chan []byte, 1)
	go func() {
		h := md5.New()
		for b := range filled {
			h.Write(b)
			free <- b[:cap(b)]
		}
		sum <- h.Sum(nil)
	}()

	var err error
	for {
		buf := <-free
		n, rerr := io.ReadFull(r, buf)
		if n > 0 {
			filled <- buf[:n]
			if _, werr := w.Write(buf[:n]); werr != nil {
				err = werr
				break
			}
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			break
		}
		if rerr != nil {
			err = rerr
			break
		}
	}
	close(filled)
	return <-sum, err
}

// digest is what was read: how many bytes, and their checksums.
type digest struct {
	size   int64
	crc32c uint32
	md5    []byte // nil when not computable (composite objects)
}

// readCloser reads through a buffer and closes the underlying body.
type readCloser struct {
	io.Reader
	io.Closer
}

// hashingReader counts and checksums every byte read through it, and
// remembers a read error so it can be told apart from a write error.
type hashingReader struct {
	r      io.Reader
	crc    hash.Hash32
	md5    hash.Hash // nil: not computed
	n      atomic.Int64
	err    error
	onRead func(int)
	// tee, when set, is written every byte read, in order: where a check
	// of the whole file's structure watches a stream go by. Its error
	// fails the read.
	tee io.Writer
}

func newHashingReader(r io.Reader, withMD5 bool, onRead func(int)) *hashingReader {
	h := &hashingReader{r: r, crc: crc32.New(crc32c.Table), onRead: onRead}
	if withMD5 {
		h.md5 = md5.New()
	}
	return h
}

func (h *hashingReader) Read(p []byte) (int, error) {
	n, err := h.r.Read(p)
	if n > 0 {
		h.crc.Write(p[:n])
		if h.md5 != nil {
			h.md5.Write(p[:n])
		}
		h.n.Add(int64(n))
		if h.onRead != nil {
			h.onRead(n)
		}
		if h.tee != nil {
			if _, terr := h.tee.Write(p[:n]); terr != nil {
				// A failed check stops the copy like a failed read: the
				// upload is abandoned.
				h.err = terr
				return n, terr
			}
		}
	}
	if err != nil && err != io.EOF {
		h.err = err
	}
	return n, err
}

func (h *hashingReader) digest() digest {
	d := digest{size: h.n.Load(), crc32c: h.crc.Sum32()}
	if h.md5 != nil {
		d.md5 = h.md5.Sum(nil)
	}
	return d
}

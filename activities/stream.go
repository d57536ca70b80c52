package activities

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"strconv"
	"sync"
	"sync/atomic"

	"cloud.google.com/go/storage"

	"wochit-ingest/internal/crc32c"
)

type digest struct {
	size   int64
	crc32c uint32
	md5    []byte // nil when not computable (composite objects)
}

// stream copies one response body into a new object. The object only comes
// into existence when Close succeeds, and Close is only reached when the body
// was read to its announced end without error and matches any checksum the
// origin declared.
func (a *Activities) stream(ctx context.Context, obj *storage.ObjectHandle, kind AssetKind, probe probeResult, body io.Reader,
	contentType string, meta map[string]string, limit int64, declared sourceHashes,
) (*storage.ObjectAttrs, digest, error) {
	settings := a.transferSettings()
	total := probe.length

	uploadCtx, abandonUpload := context.WithCancel(ctx)
	defer abandonUpload() // harmless after a successful Close

	w := obj.If(storage.Conditions{DoesNotExist: true}).NewWriter(uploadCtx)
	w.ContentType = contentType
	w.Metadata = meta
	w.ChunkSize = chunkSizeFor(total, settings.ChunkSize)

	// Read at most one byte past the limit, so an oversize body without (or
	// with a false) Content-Length is noticed without downloading the rest.
	src := newHashingReader(io.LimitReader(body, limit+1), false, func(n int) { a.Metrics.addBytes(kind, int64(n)) })
	stopHeartbeat := heartbeatEvery(ctx, settings.HeartbeatInterval, func() any {
		return TransferProgress{Kind: kind, Bytes: src.n.Load(), Total: total}
	})
	defer stopHeartbeat()

	md5sum, copyErr := copyWithMD5(w, src)
	d := src.digest()
	d.md5 = md5sum
	source := RedactURL(probe.resp.Request.URL.String())
	switch {
	case src.err != nil:
		abandonUpload()
		if ctx.Err() != nil {
			return nil, d, ctx.Err()
		}
		return nil, d, retryable(ErrIncompleteBody, nil, "reading %s failed after %d bytes: %v", source, d.size, readError(probe.resp, src.err))
	case copyErr != nil:
		abandonUpload()
		if ctx.Err() != nil {
			// Not the storage error: it names the upload session.
			return nil, d, ctx.Err()
		}
		if isPreconditionFailed(copyErr) {
			return nil, d, copyErr
		}
		return nil, d, retryable(ErrStorage, nil, "uploading %s: %v", obj.ObjectName(), copyErr)
	case d.size > limit:
		abandonUpload()
		return nil, d, permanent(ErrTooLarge, nil, "the %s is larger than the limit of %d bytes", kind, limit)
	case total >= 0 && d.size != total:
		abandonUpload()
		return nil, d, retryable(ErrIncompleteBody, nil, "origin announced %d bytes but sent %d", total, d.size)
	case declared.hasCRC32C && declared.crc32c != d.crc32c, declared.md5 != nil && !bytes.Equal(declared.md5, d.md5):
		abandonUpload()
		a.Metrics.integrityFailure(kind)
		return nil, d, retryable(ErrIntegrity, nil, "the bytes read from %s do not match the checksums the origin declared", source)
	}

	if err := w.Close(); err != nil {
		if isPreconditionFailed(err) {
			return nil, d, err
		}
		return nil, d, retryable(ErrStorage, nil, "finalizing %s: %v", obj.ObjectName(), err)
	}
	return w.Attrs(), d, nil
}

// storeSmall copies a file that fits in one upload chunk. The upload would
// buffer it whole anyway, so it is read first: then its checksums go with
// the upload — GCS verifies the CRC32C and MD5 before the object exists — and
// into its metadata, in one request instead of an upload and an update.
func (a *Activities) storeSmall(ctx context.Context, obj *storage.ObjectHandle, kind AssetKind, probe probeResult, body io.Reader,
	contentType string, meta map[string]string, declared sourceHashes,
) (*storage.ObjectAttrs, digest, error) {
	source := RedactURL(probe.resp.Request.URL.String())
	data := make([]byte, probe.length)
	n, err := io.ReadFull(body, data)
	a.Metrics.addBytes(kind, int64(n))
	if err == nil {
		// Nothing may follow the announced length.
		var extra [1]byte
		if k, _ := body.Read(extra[:]); k > 0 {
			err = fmt.Errorf("more bytes than the announced %d", probe.length)
		}
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil, digest{}, ctx.Err()
		}
		return nil, digest{}, retryable(ErrIncompleteBody, nil, "reading %s failed after %d of %d bytes: %v", source, n, probe.length, readError(probe.resp, err))
	}
	sum := md5.Sum(data)
	d := digest{size: int64(n), crc32c: crc32c.Checksum(data), md5: sum[:]}
	if (declared.hasCRC32C && declared.crc32c != d.crc32c) || (declared.md5 != nil && !bytes.Equal(declared.md5, d.md5)) {
		a.Metrics.integrityFailure(kind)
		return nil, d, retryable(ErrIntegrity, nil, "the bytes read from %s do not match the checksums the origin declared", source)
	}

	verified := make(map[string]string, len(meta)+3)
	for k, v := range meta {
		verified[k] = v
	}
	verified[metaSize] = strconv.FormatInt(d.size, 10)
	verified[metaCRC32C] = crc32c.Encode(d.crc32c)
	verified[metaMD5] = base64.StdEncoding.EncodeToString(d.md5)

	uploadCtx, abandonUpload := context.WithCancel(ctx)
	defer abandonUpload()
	w := obj.If(storage.Conditions{DoesNotExist: true}).NewWriter(uploadCtx)
	w.ContentType = contentType
	w.Metadata = verified
	w.CRC32C, w.SendCRC32C, w.MD5 = d.crc32c, true, d.md5
	w.ChunkSize = chunkSizeFor(d.size, len(data)+1)
	if _, err := w.Write(data); err != nil {
		abandonUpload()
		if isPreconditionFailed(err) {
			return nil, d, err
		}
		return nil, d, retryable(ErrStorage, nil, "uploading %s: %v", obj.ObjectName(), err)
	}
	if err := w.Close(); err != nil {
		if isPreconditionFailed(err) {
			return nil, d, err
		}
		return nil, d, retryable(ErrStorage, nil, "finalizing %s: %v", obj.ObjectName(), err)
	}
	return w.Attrs(), d, nil
}

// chunkSizeFor keeps small files (thumbnails) from allocating a full chunk:
// a file that fits in one chunk is sent in one request anyway.
func chunkSizeFor(total int64, max int) int {
	const quantum = 256 << 10 // GCS rounds chunk sizes up to 256 KiB
	if total >= 0 && total < int64(max) {
		// +1 so that reaching the end is seen within the first chunk.
		return int((total + 1 + quantum - 1) / quantum * quantum)
	}
	return max
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

package transfer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"cloud.google.com/go/storage"

	"github.com/wochit-ingest/wochit-ingest/contract"
	"github.com/wochit-ingest/wochit-ingest/internal/crc32c"
	"github.com/wochit-ingest/wochit-ingest/internal/mediacheck"
	"github.com/wochit-ingest/wochit-ingest/internal/mediainfo"
	"github.com/wochit-ingest/wochit-ingest/internal/redact"
)

// A stored video's media metadata (what a player needs: duration, size,
// codec, fast start) is read once, when the video is stored, and recorded in
// the object's metadata (metaMedia), so that a run that finds the object
// stored — a reuse-only run on the light queue, say — reports it without
// reading the object's moov (up to mediainfo.MaxMoovSize) again. A file
// held in memory is described there, and its media go with its upload;
// otherwise the stored object is read by range once it exists, and its
// media are added to its metadata.

// media returns the media metadata of the video Copy stored or found
// stored: the recorded ones, or else read from the object — and recorded
// when this copy stored it, so later runs need not read it (an object
// found stored is left as it is). Reading an object found stored, which
// may happen on the light queue, takes its moov's size from the memory
// budget first. Metadata that is missing or cannot be read is left out,
// never a failure.
func (c *copier) media(ctx context.Context, res Result) *contract.Media {
	if m := res.Object.Media; m != nil {
		if *m == (contract.Media{}) {
			return nil // described when stored: nothing to report
		}
		return m
	}
	ctx, cancel := context.WithTimeout(ctx, describeTimeout)
	defer cancel()
	obj := c.dst.Bucket.Object(res.Object.Name)
	reserve := c.opts.ReserveMemory
	if !res.Reused {
		reserve = nil // the video queue: one moov per transfer slot
	}
	r := &objectReaderAt{ctx: ctx, obj: obj, size: res.Object.Size}
	m, err := describe(r, res.Object.Size, reserve)
	if err != nil {
		c.opts.Logger.Warn("the stored video's metadata could not be read; the callback omits it", "object", res.Object.URI, "error", err)
		return m
	}
	if res.Reused {
		return m
	}
	if err := recordMedia(ctx, obj, res.Object, m); err != nil {
		c.opts.Logger.Warn("could not record the video's metadata on the object; a later run reads it again", "object", res.Object.URI, "error", redact.Text(err.Error()))
	}
	return m
}

// describe reads a video's media metadata from r, a file of size bytes:
// the top-level box headers, then the moov alone, for which reserve (nil:
// none) must grant the memory first.
func describe(r io.ReaderAt, size int64, reserve func(n int64) (release func(), ok bool)) (*contract.Media, error) {
	if size <= 0 {
		return nil, nil
	}
	st, err := mediacheck.Check(r, size)
	if err != nil {
		return nil, fmt.Errorf("reading the video's structure: %w", err)
	}
	if st.Format != "iso-bmff" {
		return nil, nil
	}
	if moov, ok := st.Find("moov"); ok && reserve != nil && moov.Size <= mediainfo.MaxMoovSize {
		release, ok := reserve(moov.Size)
		if !ok {
			return nil, fmt.Errorf("the memory budget has no room for the video's %d-byte moov now", moov.Size)
		}
		defer release()
	}
	info, err := mediainfo.Read(r, size, st)
	m := contract.Media{DurationMillis: info.DurationMillis, Width: info.Width, Height: info.Height, Codec: info.Codec, FastStart: info.FastStart}
	if m == (contract.Media{}) {
		return nil, err
	}
	return &m, err
}

// mediaMetadata describes a video held in memory, for the metadata of its
// upload; false when it could not be read (the object is then described
// once stored).
func mediaMetadata(chunks [][]byte, size int64) (string, bool) {
	m, err := describe(chunksReaderAt(chunks), size, nil)
	if err != nil {
		return "", false
	}
	return encodeMedia(m)
}

// maxMetadataMedia bounds the recorded media (a few dozen bytes of JSON).
const maxMetadataMedia = 512

// encodeMedia is the metaMedia value for m: its JSON, "{}" when there is
// nothing to report; false when it would not fit.
func encodeMedia(m *contract.Media) (string, bool) {
	if m == nil {
		m = &contract.Media{}
	}
	b, err := json.Marshal(m)
	if err != nil || len(b) > maxMetadataMedia {
		return "", false
	}
	return string(b), true
}

// recordedMedia is what the metadata says of the video's media: nil when
// nothing was recorded, an empty Media when it was described and there was
// nothing to report.
func recordedMedia(meta map[string]string) *contract.Media {
	v, ok := meta[metaMedia]
	if !ok {
		return nil
	}
	var m contract.Media
	if err := json.Unmarshal([]byte(v), &m); err != nil {
		return nil // not ours to trust: read the object again
	}
	return &m
}

// recordMedia adds m to the metadata of the object described by stored,
// if it is still the same one (generation and metageneration matched).
func recordMedia(ctx context.Context, obj *storage.ObjectHandle, stored contract.StoredObject, m *contract.Media) error {
	v, ok := encodeMedia(m)
	if !ok {
		return nil // a later run reads it again
	}
	attrs, err := obj.Attrs(ctx)
	if err != nil {
		return err
	}
	if attrs.Size != stored.Size || crc32c.Encode(attrs.CRC32C) != stored.CRC32C {
		return fmt.Errorf("the object changed since it was stored")
	}
	meta := make(map[string]string, len(attrs.Metadata)+1)
	for k, val := range attrs.Metadata {
		meta[k] = val
	}
	meta[metaMedia] = v
	_, err = obj.If(storage.Conditions{GenerationMatch: attrs.Generation, MetagenerationMatch: attrs.Metageneration}).
		Update(ctx, storage.ObjectAttrsToUpdate{Metadata: meta})
	return err
}

// chunksReaderAt reads a file held in chunks (readUpTo's).
type chunksReaderAt [][]byte

func (c chunksReaderAt) ReadAt(p []byte, off int64) (int, error) {
	n := 0
	for _, chunk := range c {
		if off >= int64(len(chunk)) {
			off -= int64(len(chunk))
			continue
		}
		k := copy(p[n:], chunk[off:])
		n, off = n+k, 0
		if n == len(p) {
			return n, nil
		}
	}
	return n, io.EOF
}

// objectReaderAt reads a GCS object by range. Box headers are small reads
// close together, so small reads are served from one cached block; the moov
// is read in one request of its own.
type objectReaderAt struct {
	ctx   context.Context
	obj   *storage.ObjectHandle
	size  int64
	block []byte
	at    int64 // offset of block
	reads int   // requests made, for a bound on what a hostile file costs
}

const (
	readBlock = 16 << 10
	maxReads  = 256
)

func (r *objectReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off >= r.size {
		return 0, io.EOF
	}
	if len(p) <= readBlock/4 {
		if r.block == nil || off < r.at || off+int64(len(p)) > r.at+int64(len(r.block)) {
			b, err := r.fetch(off, min(readBlock, r.size-off))
			if err != nil {
				return 0, err
			}
			r.block, r.at = b, off
		}
		n := copy(p, r.block[off-r.at:])
		if n < len(p) {
			if r.at+int64(len(r.block)) < r.size {
				return n, io.ErrUnexpectedEOF // the object was shorter than its size
			}
			return n, io.EOF
		}
		return n, nil
	}
	// A large read (the moov) goes straight into p: no second copy of it.
	n, err := r.fetchInto(p[:min(int64(len(p)), r.size-off)], off)
	if err == nil && n < len(p) {
		err = io.EOF
	}
	return n, err
}

func (r *objectReaderAt) fetch(off, n int64) ([]byte, error) {
	b := make([]byte, n)
	k, err := r.fetchInto(b, off)
	return b[:k], err
}

// fetchInto reads len(p) bytes at off in one ranged request and says how
// many arrived.
func (r *objectReaderAt) fetchInto(p []byte, off int64) (int, error) {
	if r.reads++; r.reads > maxReads {
		return 0, errors.New("too many reads to describe the video")
	}
	rd, err := r.obj.NewRangeReader(r.ctx, off, int64(len(p)))
	if err != nil {
		return 0, err
	}
	defer rd.Close()
	return io.ReadFull(rd, p)
}

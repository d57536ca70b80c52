package transfer

import (
	"context"
	"errors"
	"fmt"
	"io"

	"cloud.google.com/go/storage"

	"github.com/wochit-ingest/wochit-ingest/contract"
	"github.com/wochit-ingest/wochit-ingest/internal/mediacheck"
	"github.com/wochit-ingest/wochit-ingest/internal/mediainfo"
)

// describe reads what a player needs (duration, size, codec, fast start)
// from a stored video's MP4/MOV metadata, by ranged reads of the object: the
// top-level box headers, then the moov alone. It runs on whatever copy path
// stored the object (or found it stored), after the object exists: metadata
// that is missing or cannot be read is left out, never a failure.
func describe(ctx context.Context, obj *storage.ObjectHandle, stored contract.StoredObject) (*contract.Media, error) {
	if stored.Size <= 0 {
		return nil, nil
	}
	r := &objectReaderAt{ctx: ctx, obj: obj, size: stored.Size}
	st, err := mediacheck.Check(r, stored.Size)
	if err != nil {
		return nil, fmt.Errorf("reading the stored video's structure: %w", err)
	}
	if st.Format != "iso-bmff" {
		return nil, nil
	}
	info, err := mediainfo.Read(r, stored.Size, st)
	m := contract.Media{DurationMillis: info.DurationMillis, Width: info.Width, Height: info.Height, Codec: info.Codec, FastStart: info.FastStart}
	if m == (contract.Media{}) {
		return nil, err
	}
	return &m, err
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

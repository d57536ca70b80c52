// Package inbox is the ingress's second durable way in: when Temporal does
// not accept a workflow start, the notification is written to GCS, and the
// workers start its run once Temporal is back (Drainer).
//
// One object per distinct notification, named by the notification itself
// (Name), written only if it does not exist yet: a notification sent twice
// during an outage is one object, and the first receipt time stands. The
// object holds the workflow input (the notification, the time the door
// received it, the callback schedule) encoded by the Temporal data converter,
// that is encrypted with PAYLOAD_KEYS: signed URLs never sit in the bucket
// in clear.
//
// Layout under the prefix (by default <GCS_PREFIX>.inbox/):
//
//	<prefix><wochitVideoId>.<hash>     waiting to be started
//	<prefix>conflicts/<same name>      differs from its video's run; not started
//	<prefix>probe/readiness            the ingress's readiness write
//
// The ingress needs only to create objects under the prefix; the workers
// read, create (conflicts) and delete there.
package inbox

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"cloud.google.com/go/storage"
	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/iterator"
	"google.golang.org/protobuf/proto"

	"github.com/wochit-ingest/wochit-ingest/workflows"
)

// DirName is appended to GCS_PREFIX to make the default inbox prefix. It
// cannot collide with a video's objects: a wochitVideoId has no dots.
const DirName = ".inbox/"

// Sub-prefixes of the inbox that the drain does not list.
const (
	ConflictsDir = "conflicts/"
	probeName    = "probe/readiness"
)

// maxObjectBytes bounds an inbox object read back: a notification is at most
// 64 KiB, its encrypted encoding a little more.
const maxObjectBytes = 1 << 20

// Inbox is a prefix of a bucket holding notifications waiting for Temporal.
type Inbox struct {
	Storage *storage.Client
	Bucket  string
	// Prefix ends with "/" (New adds it).
	Prefix string
	// DataConverter encodes the entries; it must be the processes' Temporal
	// converter, so entries are encrypted with PAYLOAD_KEYS.
	DataConverter converter.DataConverter
}

// New returns the inbox under prefix in bucket.
func New(gcs *storage.Client, bucket, prefix string, dc converter.DataConverter) *Inbox {
	if prefix != "" && !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	if dc == nil {
		dc = converter.GetDefaultDataConverter()
	}
	return &Inbox{Storage: gcs, Bucket: bucket, Prefix: prefix, DataConverter: dc}
}

// Name is the object that holds in: the video id, for operators, and a hash
// of the notification, so that a repeat of the same notification is the same
// object and a different one for the same video is another.
func (b *Inbox) Name(in workflows.IngestInput) string {
	canonical, _ := json.Marshal(in.Notification) // a struct of strings always encodes
	sum := sha256.Sum256(canonical)
	return b.Prefix + in.Notification.WochitVideoID + "." + hex.EncodeToString(sum[:12])
}

// Put makes in durable in the inbox. An object already holding the same
// notification is success: the earlier receipt stands.
func (b *Inbox) Put(ctx context.Context, in workflows.IngestInput) (name string, err error) {
	data, err := b.encode(in)
	if err != nil {
		return "", err
	}
	name = b.Name(in)
	if err := b.create(ctx, name, data); err != nil {
		return "", err
	}
	return name, nil
}

// create writes data to name unless the object exists (which is success).
func (b *Inbox) create(ctx context.Context, name string, data []byte) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // a failed write is abandoned, never finalized
	w := b.Storage.Bucket(b.Bucket).Object(name).If(storage.Conditions{DoesNotExist: true}).NewWriter(ctx)
	w.ContentType = "application/octet-stream"
	w.ChunkSize = 0 // one request: the object is small
	if _, err := w.Write(data); err != nil {
		return fmt.Errorf("writing inbox object %s: %w", name, err)
	}
	if err := w.Close(); err != nil {
		if isStatus(err, http.StatusPreconditionFailed) {
			return nil
		}
		return fmt.Errorf("writing inbox object %s: %w", name, err)
	}
	return nil
}

// Probe tells whether the inbox can take a notification now: it creates a
// fixed object under probe/ (outside the drain's listing), an existing one
// counting as success, so the ingress needs no permission beyond create.
func (b *Inbox) Probe(ctx context.Context) error {
	return b.create(ctx, b.Prefix+probeName, []byte("ok\n"))
}

// Entry is one object waiting in the inbox.
type Entry struct {
	Name       string
	Generation int64
	Created    time.Time
}

// Read returns the input held in e.
func (b *Inbox) Read(ctx context.Context, e Entry) (workflows.IngestInput, error) {
	r, err := b.Storage.Bucket(b.Bucket).Object(e.Name).Generation(e.Generation).NewReader(ctx)
	if errors.Is(err, storage.ErrObjectNotExist) {
		return workflows.IngestInput{}, errNotFound
	}
	if err != nil {
		return workflows.IngestInput{}, fmt.Errorf("reading inbox object %s: %w", e.Name, err)
	}
	defer r.Close()
	data, err := io.ReadAll(io.LimitReader(r, maxObjectBytes))
	if err != nil {
		return workflows.IngestInput{}, fmt.Errorf("reading inbox object %s: %w", e.Name, err)
	}
	in, err := b.decode(data)
	if err != nil {
		return in, fmt.Errorf("decoding inbox object %s: %w: %w", e.Name, errUndecodable, err)
	}
	return in, nil
}

var (
	errNotFound    = errors.New("inbox object is gone")
	errUndecodable = errors.New("not an inbox entry this process can decode")
)

// Delete removes e if it is still the generation that was read.
func (b *Inbox) Delete(ctx context.Context, e Entry) error {
	err := b.Storage.Bucket(b.Bucket).Object(e.Name).If(storage.Conditions{GenerationMatch: e.Generation}).Delete(ctx)
	if err != nil && !errors.Is(err, storage.ErrObjectNotExist) && !isStatus(err, http.StatusPreconditionFailed) {
		return fmt.Errorf("deleting inbox object %s: %w", e.Name, err)
	}
	return nil // gone: this worker or another drained it
}

// SetAside moves e under conflicts/, where the drain no longer sees it.
func (b *Inbox) SetAside(ctx context.Context, e Entry) (string, error) {
	dst := b.Prefix + ConflictsDir + strings.TrimPrefix(e.Name, b.Prefix)
	bkt := b.Storage.Bucket(b.Bucket)
	_, err := bkt.Object(dst).If(storage.Conditions{DoesNotExist: true}).
		CopierFrom(bkt.Object(e.Name).Generation(e.Generation)).Run(ctx)
	if errors.Is(err, storage.ErrObjectNotExist) || isStatus(err, http.StatusNotFound) {
		return dst, nil // another drainer set it aside already
	}
	if err != nil && !isStatus(err, http.StatusPreconditionFailed) {
		return "", fmt.Errorf("copying inbox object %s to %s: %w", e.Name, dst, err)
	}
	return dst, b.Delete(ctx, e)
}

// List calls fn for each waiting entry, a page of at most pageSize objects at
// a time, in name order. Objects under conflicts/ and probe/ are not listed.
func (b *Inbox) List(ctx context.Context, pageSize int, fn func(Entry) error) error {
	q := &storage.Query{Prefix: b.Prefix, Delimiter: "/"}
	if err := q.SetAttrSelection([]string{"Name", "Generation", "Created"}); err != nil {
		return err
	}
	it := b.Storage.Bucket(b.Bucket).Objects(ctx, q)
	it.PageInfo().MaxSize = pageSize
	for {
		attrs, err := it.Next()
		if errors.Is(err, iterator.Done) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("listing the inbox: %w", err)
		}
		if attrs.Name == "" { // a "directory" (conflicts/, probe/)
			continue
		}
		if err := fn(Entry{Name: attrs.Name, Generation: attrs.Generation, Created: attrs.Created}); err != nil {
			return err
		}
	}
}

// encode is the entry's bytes: the input as one Temporal payload, encoded
// (encrypted) by the data converter, in its protobuf form.
func (b *Inbox) encode(in workflows.IngestInput) ([]byte, error) {
	p, err := b.DataConverter.ToPayload(in)
	if err != nil {
		return nil, fmt.Errorf("encoding the inbox entry: %w", err)
	}
	return proto.Marshal(p)
}

func (b *Inbox) decode(data []byte) (workflows.IngestInput, error) {
	var in workflows.IngestInput
	p := &commonpb.Payload{}
	if err := proto.Unmarshal(data, p); err != nil {
		return in, err
	}
	err := b.DataConverter.FromPayload(p, &in)
	return in, err
}

func isStatus(err error, code int) bool {
	var gerr *googleapi.Error
	return errors.As(err, &gerr) && gerr.Code == code
}

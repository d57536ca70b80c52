package inbox_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/storage"
	"go.temporal.io/sdk/converter"
	"google.golang.org/api/iterator"

	"github.com/wochit-ingest/wochit-ingest/contract"
	"github.com/wochit-ingest/wochit-ingest/devstack/gcsemu/gcsemutest"
	"github.com/wochit-ingest/wochit-ingest/inbox"
	"github.com/wochit-ingest/wochit-ingest/internal/payloadcodec"
	"github.com/wochit-ingest/wochit-ingest/workflows"
)

const testBucket = "inbox-test"

// token is the secret part of the test's signed URLs: it must never be
// readable in the bucket.
const token = "Signature=c2VjcmV0LXNpZ25hdHVyZS1ieXRlcw"

// newGCS serves a fresh emulator on loopback and returns a real storage
// client for it.
func newGCS(t *testing.T) *storage.Client {
	t.Helper()
	gcs, _ := gcsemutest.Start(t, testBucket, nil)
	return gcs
}

func testConverter(t *testing.T) converter.DataConverter {
	t.Helper()
	ring, err := payloadcodec.ParseKeyring(payloadcodec.GenerateKey())
	if err != nil {
		t.Fatal(err)
	}
	return payloadcodec.DataConverter(ring)
}

func input(id, title string, receivedAt time.Time) workflows.IngestInput {
	return workflows.IngestInput{
		Notification: contract.Notification{
			WochitVideoID: id,
			VideoURL:      "https://media.example.com/" + id + ".mp4?Expires=4102444800&" + token,
			ThumbnailURL:  "https://media.example.com/" + id + ".jpg?Expires=4102444800&" + token,
			VideoContext:  "user-42",
			Title:         title,
		},
		ReceivedAt: receivedAt.UTC(),
	}
}

// names lists every object under prefix, conflicts and probes included.
func names(t *testing.T, gcs *storage.Client, prefix string) []string {
	t.Helper()
	var out []string
	it := gcs.Bucket(testBucket).Objects(context.Background(), &storage.Query{Prefix: prefix})
	for {
		a, err := it.Next()
		if errors.Is(err, iterator.Done) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, a.Name)
	}
}

func entries(t *testing.T, b *inbox.Inbox) []inbox.Entry {
	t.Helper()
	var out []inbox.Entry
	if err := b.List(context.Background(), 2, func(e inbox.Entry) error { out = append(out, e); return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

// A notification sent again during an outage is one object, and the first
// receipt stands (deadlines count from it); a different notification for the
// same video is another object. The raw object holds no signed-URL token.
//
// Mutations: dropping the DoesNotExist condition in Inbox.create makes the
// second Put overwrite the first receipt ("receivedAt ... want the first");
// encoding with the default converter instead of the keyring's leaves the
// token readable ("raw inbox object holds the signed-URL token").
func TestPutCollapsesRepeatsKeepsFirstReceiptAndEncrypts(t *testing.T) {
	ctx := context.Background()
	gcs := newGCS(t)
	b := inbox.New(gcs, testBucket, "videos/.inbox", testConverter(t))
	first := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)

	name1, err := b.Put(ctx, input("v1", "t", first))
	if err != nil {
		t.Fatal(err)
	}
	name2, err := b.Put(ctx, input("v1", "t", first.Add(time.Hour)))
	if err != nil {
		t.Fatalf("repeat Put: %v", err)
	}
	if name1 != name2 {
		t.Errorf("a repeated notification got object %s, then %s", name1, name2)
	}
	if _, err := b.Put(ctx, input("v1", "other title", first)); err != nil {
		t.Fatal(err)
	}

	got := entries(t, b)
	if len(got) != 2 {
		t.Fatalf("inbox holds %d entries, want 2 (one per distinct notification)", len(got))
	}
	for _, e := range got {
		if !strings.HasPrefix(e.Name, "videos/.inbox/v1.") {
			t.Errorf("entry %s is not named by its video under the prefix", e.Name)
		}
	}
	in, err := b.Read(ctx, inbox.Entry{Name: name1})
	if err != nil {
		t.Fatal(err)
	}
	if !in.ReceivedAt.Equal(first) {
		t.Errorf("receivedAt %v, want the first receipt %v", in.ReceivedAt, first)
	}
	if in.Notification != input("v1", "t", first).Notification {
		t.Errorf("read back %+v", in.Notification)
	}

	r, err := gcs.Bucket(testBucket).Object(name1).NewReader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(r)
	r.Close()
	for _, secret := range []string{token, "media.example.com", "user-42"} {
		if bytes.Contains(raw, []byte(secret)) {
			t.Errorf("raw inbox object holds %q in clear", secret)
		}
	}
}

// The readiness write lives outside what the drain lists, and may be
// repeated (the ingress can only create).
func TestProbeIsRepeatableAndNotAnEntry(t *testing.T) {
	ctx := context.Background()
	gcs := newGCS(t)
	b := inbox.New(gcs, testBucket, "videos/.inbox/", testConverter(t))
	for range 2 {
		if err := b.Probe(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if got := entries(t, b); len(got) != 0 {
		t.Errorf("the probe is listed as an entry: %v", got)
	}
	if got := names(t, gcs, "videos/.inbox/"); len(got) != 1 {
		t.Errorf("objects after two probes: %v", got)
	}
	// A bucket that does not exist is not ready.
	if err := inbox.New(gcs, "no-such-bucket", "x/", testConverter(t)).Probe(ctx); err == nil {
		t.Error("a probe of a missing bucket succeeded")
	}
}

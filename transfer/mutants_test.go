package transfer

// Tests that kill mutants .ci/mutation found alive in the integrity code
// (BENCHMARKS.md, "Mutation testing"). Mutants are named by function: the
// code here is being split into files, so line numbers move.

import (
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"cloud.google.com/go/storage"
	"google.golang.org/api/iterator"

	"github.com/wochit-ingest/wochit-ingest/contract"
	"github.com/wochit-ingest/wochit-ingest/devstack/mediaorigin"
	"github.com/wochit-ingest/wochit-ingest/internal/crc32c"
	"github.com/wochit-ingest/wochit-ingest/internal/safehttp"
)

// verified: our mark must agree with GCS's own figures — CRC32C and size
// always, MD5 only where both the mark and GCS have one (composite objects
// have no MD5; a streamed upload's mark may have none).
// holds: GCS's checksums are those of the bytes read, on the same terms.
// Mutants: each comparison in verified and holds negated (== ↔ !=).
func TestVerifiedAndHoldsCompareEveryChecksum(t *testing.T) {
	body := []byte("the bytes read from the origin")
	other := []byte("other bytes of the same length!")[:len(body)]
	sum, otherSum := md5.Sum(body), md5.Sum(other)
	d := digest{size: int64(len(body)), crc32c: crc32c.Checksum(body), md5: sum[:]}
	mark := verifiedMetadata(map[string]string{"wochitVideoId": "v1"}, d)
	noMD5Mark := verifiedMetadata(nil, digest{size: d.size, crc32c: d.crc32c})
	if _, ok := noMD5Mark[metaMD5]; ok || mark[metaMD5] == "" || mark["wochitVideoId"] != "v1" {
		t.Fatalf("verifiedMetadata: %v and %v; want the MD5 only where the digest has one, and the other metadata kept", mark, noMD5Mark)
	}
	gcs := func(meta map[string]string, size int64, crc uint32, md []byte) *storage.ObjectAttrs {
		return &storage.ObjectAttrs{Metadata: meta, Size: size, CRC32C: crc, MD5: md}
	}
	for _, tt := range []struct {
		name  string
		attrs *storage.ObjectAttrs
		want  bool
	}{
		{"mark agrees with all three", gcs(mark, d.size, d.crc32c, sum[:]), true},
		{"no mark", gcs(map[string]string{"wochitVideoId": "v1"}, d.size, d.crc32c, sum[:]), false},
		{"CRC32C differs", gcs(mark, d.size, crc32c.Checksum(other), sum[:]), false},
		{"size differs", gcs(mark, d.size+1, d.crc32c, sum[:]), false},
		{"MD5 differs", gcs(mark, d.size, d.crc32c, otherSum[:]), false},
		{"GCS has no MD5 (composite)", gcs(mark, d.size, d.crc32c, nil), true},
		{"the mark has no MD5", gcs(noMD5Mark, d.size, d.crc32c, sum[:]), true},
	} {
		if got := verified(tt.attrs); got != tt.want {
			t.Errorf("verified(%s) = %v, want %v", tt.name, got, tt.want)
		}
	}

	for _, tt := range []struct {
		name  string
		attrs *storage.ObjectAttrs
		d     digest
		want  bool
	}{
		{"all equal", gcs(nil, d.size, d.crc32c, sum[:]), d, true},
		{"size differs", gcs(nil, d.size-1, d.crc32c, sum[:]), d, false},
		{"CRC32C differs", gcs(nil, d.size, crc32c.Checksum(other), sum[:]), d, false},
		{"MD5 differs", gcs(nil, d.size, d.crc32c, otherSum[:]), d, false},
		{"GCS has no MD5", gcs(nil, d.size, d.crc32c, nil), d, true},
		{"we have no MD5", gcs(nil, d.size, d.crc32c, otherSum[:]), digest{size: d.size, crc32c: d.crc32c}, true},
	} {
		if got := holds(tt.attrs, tt.d); got != tt.want {
			t.Errorf("holds(%s) = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// A small file whose bytes do not match the checksums its origin declares
// (X-Goog-Hash crc32c, or Content-MD5) is an integrity failure and nothing
// is stored; with the right checksums, or none, it is stored.
// Mutants in storeSmall: `declared.CRC32C != d.crc32c` → `==`,
// `declared.MD5 != nil` → `==`.
func TestSmallCopyChecksDeclaredChecksums(t *testing.T) {
	body := mediaorigin.Thumbnail("declared", 64, 48)
	other := mediaorigin.Thumbnail("other", 64, 48)
	crcOf := func(b []byte) string {
		var v [4]byte
		binary.BigEndian.PutUint32(v[:], crc32c.Checksum(b))
		return "crc32c=" + base64.StdEncoding.EncodeToString(v[:])
	}
	md5Of := func(b []byte) string { s := md5.Sum(b); return base64.StdEncoding.EncodeToString(s[:]) }

	for _, tt := range []struct {
		name     string
		headers  map[string]string
		mismatch bool
	}{
		{"no checksums", nil, false},
		{"right crc32c", map[string]string{"X-Goog-Hash": crcOf(body)}, false},
		{"wrong crc32c", map[string]string{"X-Goog-Hash": crcOf(other)}, true},
		{"right Content-MD5", map[string]string{"Content-MD5": md5Of(body)}, false},
		{"wrong Content-MD5", map[string]string{"Content-MD5": md5Of(other)}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "image/png")
				w.Header().Set("Content-Length", strconv.Itoa(len(body)))
				for k, v := range tt.headers {
					w.Header().Set(k, v)
				}
				w.Write(body)
			}))
			t.Cleanup(origin.Close)
			bucket := newEmulatorClient(t).Bucket("b")
			res, err := Copy(context.Background(),
				Source{URL: origin.URL + "/t.png", HTTP: safehttp.NewClient(safehttp.Policy{AllowPrivate: true, AllowAnyPort: true}, safehttp.ClientOptions{}), Attempt: 1},
				Destination{Bucket: bucket, Prefix: "thumbs/", WochitVideoID: "v1", Kind: contract.KindThumbnail},
				Options{})
			var terr *Error
			if tt.mismatch {
				if !errors.As(err, &terr) || terr.Reason != contract.IntegrityMismatch {
					t.Fatalf("Copy = %+v, %v; want an %s error", res, err, contract.IntegrityMismatch)
				}
				it := bucket.Objects(context.Background(), &storage.Query{Prefix: "thumbs/"})
				if attrs, err := it.Next(); !errors.Is(err, iterator.Done) {
					t.Fatalf("after the mismatch the bucket holds %v (%v), want nothing", attrs, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Copy: %v", err)
			}
			if res.Object.Size != int64(len(body)) || res.Object.CRC32C != crc32c.Encode(crc32c.Checksum(body)) {
				t.Fatalf("stored %+v, want the %d bytes served", res.Object, len(body))
			}
		})
	}
}

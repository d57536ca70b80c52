package transfer_test

import (
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/wochit-ingest/wochit-ingest/contract"

	"cloud.google.com/go/storage"
	"google.golang.org/api/iterator"

	"github.com/wochit-ingest/wochit-ingest/devstack/gcsemu"
	"github.com/wochit-ingest/wochit-ingest/devstack/mediaorigin"
	"github.com/wochit-ingest/wochit-ingest/internal/crc32c"
	"github.com/wochit-ingest/wochit-ingest/internal/safehttp"
	"github.com/wochit-ingest/wochit-ingest/transfer"
)

// env is the engine on its own: a real storage client against the GCS
// emulator over loopback, behind the fault proxy (gcsproxy_test.go), and a
// loopback media origin. No Temporal.
type env struct {
	bucket    *storage.BucketHandle
	proxy     *gcsProxy // between the engine and the emulator
	origin    *mediaorigin.Origin
	originURL string
	http      *http.Client
	tries     map[string]int // attempts at each path, for resume_test.go

	// opts are the options copyFile passes to Copy, as TransferToGCS makes
	// them from the worker's settings (a 256 KiB upload chunk unless a test
	// says otherwise). opts.Resume is what an attempt resumes from: what
	// the activity reads from the heartbeat details, which stay as a test
	// sets them (lastProgress is the last attempt's).
	opts     transfer.Options
	progress progressLog // what copyFile's attempts reported
}

func newEnv(t *testing.T) *env { t.Helper(); return newEnvWith(t, nil) }

// newEnvWith serves the emulator through wrap, when not nil: where a test
// steps in between the engine and GCS (in front of the fault proxy).
func newEnvWith(t *testing.T, wrap func(http.Handler) http.Handler) *env {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gcsURL := "http://" + l.Addr().String()
	emu, err := gcsemu.New("", gcsURL, "b")
	if err != nil {
		t.Fatal(err)
	}
	proxy := &gcsProxy{next: emu.Handler(), failUploads: map[int]int{}}
	var handler http.Handler = proxy
	if wrap != nil {
		handler = wrap(handler)
	}
	srv := &http.Server{Handler: handler}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close(); emu.Stop() })
	gcs, err := gcsemu.NewClient(context.Background(), gcsURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { gcs.Close() })

	o := mediaorigin.New()
	originServer := httptest.NewServer(o)
	t.Cleanup(originServer.Close)
	return &env{
		bucket: gcs.Bucket("b"), proxy: proxy, origin: o, originURL: originServer.URL, tries: map[string]int{},
		http: safehttp.NewClient(safehttp.Policy{AllowPrivate: true, AllowAnyPort: true}, safehttp.ClientOptions{MaxRedirects: 3}),
		opts: transfer.Options{ChunkSize: 256 << 10},
	}
}

// progressLog records what Copy reports.
type progressLog struct {
	mu  sync.Mutex
	all []transfer.Progress
}

func (l *progressLog) add(p transfer.Progress) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.all = append(l.all, p)
}

func (l *progressLog) reports() []transfer.Progress {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]transfer.Progress(nil), l.all...)
}

// input names one file to copy, as activities.TransferInput does.
type input struct {
	kind          contract.AssetKind
	url           string
	id            string // the wochitVideoId
	videoContext  string
	linkExpiresAt time.Time
	reuseOnly     bool
}

// input is the file at path of e's origin, for video id.
func (e *env) input(kind contract.AssetKind, path, id string) input {
	return input{kind: kind, url: e.originURL + path, id: id, videoContext: "ctx"}
}

// copyFile is one attempt at in, made as TransferToGCS makes it: e.opts,
// the files of video id under videos/<id>/, every progress recorded.
func (e *env) copyFile(in input) (transfer.Result, error) {
	opts := e.opts
	opts.ReuseOnly = in.reuseOnly
	opts.Progress = e.progress.add
	return transfer.Copy(context.Background(),
		transfer.Source{URL: in.url, HTTP: e.http, LinkExpiresAt: in.linkExpiresAt, Attempt: 1},
		transfer.Destination{Bucket: e.bucket, Prefix: "videos/", WochitVideoID: in.id, Kind: in.kind, VideoContext: in.videoContext},
		opts)
}

// attempts runs in the way the workflow's retry policy would: again after
// every retryable failure, up to max attempts. Like the activity's test
// environment, it leaves Resume as it is between attempts.
func (e *env) attempts(in input, max int) (transfer.Result, []error) {
	var errs []error
	for range max {
		res, err := e.copyFile(in)
		if err == nil {
			return res, errs
		}
		errs = append(errs, err)
		var terr *transfer.Error
		if errors.As(err, &terr) && terr.Final {
			break
		}
	}
	return transfer.Result{}, errs
}

// lastProgress is the last progress the last attempt reported: what the
// activity's last heartbeat holds.
func (e *env) lastProgress(t *testing.T) transfer.Progress {
	t.Helper()
	reports := e.progress.reports()
	if len(reports) == 0 {
		t.Fatal("no attempt reported progress")
	}
	return reports[len(reports)-1]
}

// objects lists the names under prefix.
func (e *env) objects(t *testing.T, prefix string) []string {
	t.Helper()
	var names []string
	it := e.bucket.Objects(context.Background(), &storage.Query{Prefix: prefix})
	for {
		attrs, err := it.Next()
		if errors.Is(err, iterator.Done) {
			return names
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, attrs.Name)
	}
}

func (e *env) objectAttrs(t *testing.T, name string) *storage.ObjectAttrs {
	t.Helper()
	a, err := e.bucket.Object(name).Attrs(context.Background())
	if err != nil {
		t.Fatalf("attrs of %s: %v", name, err)
	}
	return a
}

func (e *env) assertStored(t *testing.T, name string, want []byte) {
	t.Helper()
	if got := readObject(t, e.bucket, name); sha(got) != sha(want) {
		t.Fatalf("%s holds %d bytes that differ from the origin's %d", name, len(got), len(want))
	}
}

// assertNothingLeft fails if video id has objects, or temporary parts.
func (e *env) assertNothingLeft(t *testing.T, id string) {
	t.Helper()
	if objs := e.objects(t, "videos/"+id+"/"); len(objs) != 0 {
		t.Fatalf("objects were stored: %v", objs)
	}
	if parts := e.objects(t, "videos/.parts/"+id+"/"); len(parts) != 0 {
		t.Fatalf("temporary parts remain: %v", parts)
	}
}

func sha(b []byte) [32]byte { return sha256.Sum256(b) }

func crc32cOf(b []byte) string { return crc32c.Encode(crc32c.Checksum(b)) }

func md5Of(b []byte) string {
	sum := md5.Sum(b)
	return base64.StdEncoding.EncodeToString(sum[:])
}

func itoa(n int) string { return strconv.Itoa(n) }

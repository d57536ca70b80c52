package activities_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/wochit-ingest/wochit-ingest/contract"

	"cloud.google.com/go/storage"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"google.golang.org/api/iterator"

	"github.com/wochit-ingest/wochit-ingest/activities"
	"github.com/wochit-ingest/wochit-ingest/devstack/gcsemu"
	"github.com/wochit-ingest/wochit-ingest/devstack/mediaorigin"
	"github.com/wochit-ingest/wochit-ingest/internal/safehttp"
	"github.com/wochit-ingest/wochit-ingest/internal/webhook"
)

const testBucket = "test-bucket"

// fixture wires TransferToGCS to a real storage client talking to an
// in-process GCS emulator over loopback, and to a loopback media origin.
type fixture struct {
	t         *testing.T
	acts      *activities.Activities
	gcs       *storage.Client
	gcsURL    string
	origin    *mediaorigin.Origin
	originURL string
	env       *testsuite.TestActivityEnvironment
	// lastHeartbeat holds the details of the latest heartbeat.
	lastHeartbeat converter.EncodedValues
	// logs is everything the SDK and the activities logged.
	logs *syncBuffer
}

// localPolicy lets the activities reach the loopback servers of the test.
var localPolicy = safehttp.Policy{AllowPrivate: true, AllowAnyPort: true}

func newFixture(t *testing.T) *fixture { t.Helper(); return newFixtureWith(t, nil) }

// newFixtureWith serves the emulator through wrap, when not nil: where a
// test steps in between the activities and GCS. (The copy engine's own
// tests inject GCS faults: transfer/gcsproxy_test.go.)
func newFixtureWith(t *testing.T, wrap func(http.Handler) http.Handler) *fixture {
	t.Helper()
	f := &fixture{t: t}

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f.gcsURL = "http://" + l.Addr().String()
	emu, err := gcsemu.New("", f.gcsURL, testBucket)
	if err != nil {
		t.Fatal(err)
	}
	handler := emu.Handler()
	if wrap != nil {
		handler = wrap(handler)
	}
	gcsServer := httptest.NewUnstartedServer(handler)
	gcsServer.Listener.Close()
	gcsServer.Listener = l
	gcsServer.Start()
	t.Cleanup(func() { gcsServer.Close(); emu.Stop() })
	if f.gcs, err = gcsemu.NewClient(context.Background(), f.gcsURL); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.gcs.Close() })

	f.origin = mediaorigin.New()
	originServer := httptest.NewServer(f.origin)
	t.Cleanup(originServer.Close)
	f.originURL = originServer.URL

	secret, err := webhook.ParseSecret(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := webhook.NewSigner(secret)
	if err != nil {
		t.Fatal(err)
	}
	f.acts = &activities.Activities{
		Origin:   safehttp.NewClient(localPolicy, safehttp.ClientOptions{MaxRedirects: 3}),
		Callback: safehttp.NewClient(localPolicy, safehttp.ClientOptions{Timeout: activities.CallbackTimeout}),
		Storage:  f.gcs,
		Bucket:   testBucket,
		Prefix:   "videos/",
		Signer:   signer,
		Transfer: activities.TransferSettings{ChunkSize: 256 << 10},
	}
	f.logs = &syncBuffer{}
	suite := &testsuite.WorkflowTestSuite{}
	suite.SetLogger(log.NewStructuredLogger(slog.New(slog.NewTextHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	f.env = suite.NewTestActivityEnvironment()
	f.env.RegisterActivity(f.acts)
	var mu sync.Mutex
	f.env.SetOnActivityHeartbeatListener(func(_ *activity.Info, details converter.EncodedValues) {
		mu.Lock()
		defer mu.Unlock()
		f.lastHeartbeat = details
	})
	return f
}

const testSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

func (f *fixture) transfer(in activities.TransferInput) (activities.TransferResult, error) {
	f.t.Helper()
	var res activities.TransferResult
	v, err := f.env.ExecuteActivity(f.acts.TransferToGCS, in)
	if err != nil {
		return res, err
	}
	if err := v.Get(&res); err != nil {
		f.t.Fatal(err)
	}
	return res, nil
}

func (f *fixture) input(kind contract.AssetKind, path, id string) activities.TransferInput {
	return activities.TransferInput{Kind: kind, SourceURL: f.originURL + path, WochitVideoID: id, VideoContext: "ctx"}
}

func (f *fixture) assertStored(name string, want []byte) {
	f.t.Helper()
	if got := f.read(name); sha(got) != sha(want) {
		f.t.Fatalf("%s holds %d bytes that differ from the origin's %d", name, len(got), len(want))
	}
}

// objects lists the names under prefix.
func (f *fixture) objects(prefix string) []string {
	f.t.Helper()
	var names []string
	it := f.gcs.Bucket(testBucket).Objects(context.Background(), &storage.Query{Prefix: prefix})
	for {
		attrs, err := it.Next()
		if errors.Is(err, iterator.Done) {
			return names
		}
		if err != nil {
			f.t.Fatal(err)
		}
		names = append(names, attrs.Name)
	}
}

// read returns an object's bytes.
func (f *fixture) read(name string) []byte {
	f.t.Helper()
	r, err := f.gcs.Bucket(testBucket).Object(name).NewReader(context.Background())
	if err != nil {
		f.t.Fatalf("reading %s: %v", name, err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		f.t.Fatal(err)
	}
	return b
}

func (f *fixture) attrs(name string) *storage.ObjectAttrs {
	f.t.Helper()
	a, err := f.gcs.Bucket(testBucket).Object(name).Attrs(context.Background())
	if err != nil {
		f.t.Fatalf("attrs of %s: %v", name, err)
	}
	return a
}

// failure returns the ApplicationError type of err and whether it is
// non-retryable.
func failure(t *testing.T, err error) (reason contract.Reason, nonRetryable bool) {
	t.Helper()
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) {
		t.Fatalf("error %v (%T) is not an ApplicationError", err, err)
	}
	return contract.Reason(appErr.Type()), appErr.NonRetryable()
}

func sha(b []byte) [32]byte { return sha256.Sum256(b) }

// syncBuffer is a log destination several goroutines write to.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

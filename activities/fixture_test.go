package activities_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
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
	gcsProxy  *gcsProxy
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

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{t: t}

	// GCS emulator (wrapped so tests can inject faults in front of it).
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f.gcsURL = "http://" + l.Addr().String()
	emu, err := gcsemu.New("", f.gcsURL, testBucket)
	if err != nil {
		t.Fatal(err)
	}
	f.gcsProxy = &gcsProxy{next: emu.Handler(), failUploads: map[int]int{}}
	gcsServer := httptest.NewUnstartedServer(f.gcsProxy)
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

// gcsProxy sits in front of the emulator. It injects faults into upload
// requests, and enforces compose preconditions as real GCS does (the
// emulator ignores them).
type gcsProxy struct {
	next        http.Handler
	mu          sync.Mutex
	uploads     int         // upload requests seen
	failUploads map[int]int // 1-based upload request number → status to answer
	failed      int         // faults injected
	tamperCRC   int         // upload responses whose crc32c to falsify
	tampered    int
	composes    int
	// breakChunk > 0 answers that resumable-upload chunk (1-based) with a
	// malformed response, which the storage client does not retry: its
	// error names the session URI. brokenSessions records the upload_ids.
	breakChunk     int
	chunks         int
	brokenSessions []string
	// requests logs "METHOD /path [uploadType=T] [ifGenerationMatch=N] →
	// status" of every request, in the order they were answered.
	requests []string
}

func (p *gcsProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	entry := r.Method + " " + r.URL.Path
	for _, param := range []string{"uploadType", "ifGenerationMatch"} {
		if v := r.URL.Query().Get(param); v != "" {
			entry += " " + param + "=" + v
		}
	}
	sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
	p.serve(sw, r)
	p.mu.Lock()
	p.requests = append(p.requests, fmt.Sprintf("%s → %d", entry, sw.status))
	p.mu.Unlock()
}

// statusWriter remembers the status of a response.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	w.status = 0
	return w.ResponseWriter.(http.Hijacker).Hijack()
}

func (w *statusWriter) Flush() { w.ResponseWriter.(http.Flusher).Flush() }

func (p *gcsProxy) serve(w http.ResponseWriter, r *http.Request) {
	switch {
	case strings.HasPrefix(r.URL.Path, "/upload/") && r.URL.Query().Get("upload_id") != "" && p.breakThisChunk(r):
		io.Copy(io.Discard, r.Body)
		conn, _, err := w.(http.Hijacker).Hijack()
		if err != nil {
			panic(err)
		}
		conn.Write([]byte("HTTP/1.1 ??? broken by the test proxy\r\n\r\n"))
		conn.Close()
		return
	case strings.HasPrefix(r.URL.Path, "/upload/"):
		p.mu.Lock()
		p.uploads++
		status, fail := p.failUploads[p.uploads]
		if fail {
			p.failed++
		}
		p.mu.Unlock()
		if fail {
			io.Copy(io.Discard, r.Body)
			writeGCSError(w, status)
			return
		}
		p.serveMaybeTampered(w, r)
		return
	case strings.HasSuffix(r.URL.Path, "/compose"):
		p.mu.Lock()
		p.composes++
		p.mu.Unlock()
		if r.URL.Query().Get("ifGenerationMatch") == "0" {
			probe := httptest.NewRequest(http.MethodGet, strings.TrimSuffix(r.URL.EscapedPath(), "/compose"), nil)
			rec := httptest.NewRecorder()
			p.next.ServeHTTP(rec, probe)
			if rec.Code == http.StatusOK {
				writeGCSError(w, http.StatusPreconditionFailed)
				return
			}
		}
	}
	p.next.ServeHTTP(w, r)
}

func (p *gcsProxy) breakThisChunk(r *http.Request) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.chunks++
	if p.chunks != p.breakChunk {
		return false
	}
	p.brokenSessions = append(p.brokenSessions, r.URL.Query().Get("upload_id"))
	return true
}

// serveMaybeTampered falsifies the crc32c GCS reports for a finalized
// object, while tamperCRC says so.
func (p *gcsProxy) serveMaybeTampered(w http.ResponseWriter, r *http.Request) {
	rec := httptest.NewRecorder()
	p.next.ServeHTTP(rec, r)
	body := rec.Body.Bytes()
	q := r.URL.Query()
	initiation := q.Get("uploadType") == "resumable" && q.Get("upload_id") == ""
	final := rec.Code == http.StatusOK && rec.Header().Get("X-Http-Status-Code-Override") != "308" && !initiation
	var obj map[string]any
	if final && json.Unmarshal(body, &obj) == nil && obj["crc32c"] != nil {
		p.mu.Lock()
		tamper := p.tamperCRC > p.tampered
		if tamper {
			p.tampered++
		}
		p.mu.Unlock()
		if tamper {
			obj["crc32c"] = "AAAAAA=="
			body, _ = json.Marshal(obj)
		}
	}
	for k, v := range rec.Header() {
		if k != "Content-Length" {
			w.Header()[k] = v
		}
	}
	w.WriteHeader(rec.Code)
	w.Write(body)
}

func (p *gcsProxy) log() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.requests...)
}

func (p *gcsProxy) counts() (uploads, failed, tampered int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.uploads, p.failed, p.tampered
}

func writeGCSError(w http.ResponseWriter, status int) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"error":{"code":%d,"message":"injected by the test proxy"}}`, status)
}

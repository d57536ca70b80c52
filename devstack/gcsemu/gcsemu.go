// Package gcsemu wraps fake-gcs-server, the GCS emulator that `dev` and the
// tests use, so the real cloud.google.com/go/storage client runs against it
// exactly as it runs against Google Cloud Storage. On disk it streams writes
// itself (diskWrites), so the emulator's memory does not grow with objects.
package gcsemu

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"

	"cloud.google.com/go/storage"
	"github.com/fsouza/fake-gcs-server/fakestorage"
	"google.golang.org/api/option"
)

// Emulator is an in-process GCS emulator; serve its Handler on any listener.
type Emulator struct {
	fake        *fakestorage.Server
	fakeHandler http.Handler
	disk        *diskWrites // nil: fake-gcs-server takes the writes
	handler     http.Handler
}

// New creates an emulator with the given buckets. With root set, objects are
// kept on disk under it and survive restarts, and uploads stream to disk, so
// memory does not grow with object size (see diskWrites); otherwise objects
// live in memory. externalURL is the base URL clients will reach it at.
func New(root, externalURL string, buckets ...string) (*Emulator, error) {
	if root != "" {
		if err := os.MkdirAll(root, 0o755); err != nil {
			return nil, fmt.Errorf("creating GCS emulator root: %w", err)
		}
	}
	u, err := url.Parse(externalURL)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("GCS emulator URL %q is not absolute", externalURL)
	}
	fake, err := fakestorage.NewServerWithOptions(fakestorage.Options{
		StorageRoot: root,
		Scheme:      "http",
		NoListener:  true,
		ExternalURL: externalURL,
		// Path-style downloads (http://host:port/bucket/object), which the
		// storage client uses for reads, are matched on this host.
		PublicHost: u.Host,
	})
	if err != nil {
		return nil, fmt.Errorf("starting GCS emulator: %w", err)
	}
	for _, b := range buckets {
		fake.CreateBucketWithOpts(fakestorage.CreateBucketOpts{Name: b})
	}
	e := &Emulator{fake: fake, fakeHandler: fake.HTTPHandler()}
	writes := e.fakeHandler
	if root != "" {
		disk, err := newDiskWrites(e.fakeHandler, root)
		if err != nil {
			fake.Stop()
			return nil, err
		}
		if disk != nil {
			e.disk, writes = disk, disk
		}
	}
	e.handler = newChecks(writes, e.disk == nil)
	return e, nil
}

// Handler serves the GCS JSON and XML APIs, checking what GCS checks (see
// checks).
func (e *Emulator) Handler() http.Handler { return e.handler }

// FakeGCSServerHandler serves fake-gcs-server alone, without the streaming
// writes or the checks: the baseline BenchmarkEmulatorMemory can be run
// against.
func (e *Emulator) FakeGCSServerHandler() http.Handler { return e.fakeHandler }

// Stop releases the emulator's resources.
func (e *Emulator) Stop() { e.fake.Stop() }

// ClientOptions point a storage client at an emulator's base URL
// (http://host:port) without credentials.
func ClientOptions(baseURL string) []option.ClientOption {
	return []option.ClientOption{option.WithEndpoint(baseURL + "/storage/v1/"), option.WithoutAuthentication()}
}

// NewClient returns a storage client for the emulator at baseURL.
func NewClient(ctx context.Context, baseURL string) (*storage.Client, error) {
	return storage.NewClient(ctx, ClientOptions(baseURL)...)
}

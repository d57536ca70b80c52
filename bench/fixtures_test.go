package bench

import (
	"fmt"
	"net/http/httptest"
	"testing"

	"github.com/wochit-ingest/wochit-ingest/bench/gcssink"
	"github.com/wochit-ingest/wochit-ingest/devstack/mediaorigin"
)

// fixtures are the media origin and the GCS sink, both on loopback.
type fixtures struct {
	origin    *mediaorigin.Origin
	originURL string
	sink      *gcssink.Sink
	sinkURL   string
}

func newFixtures(b testing.TB) *fixtures {
	b.Helper()
	f := &fixtures{origin: mediaorigin.New(), sink: gcssink.New()}
	o := httptest.NewServer(f.origin)
	s := httptest.NewServer(f.sink)
	b.Cleanup(func() { o.Close(); s.Close() })
	f.originURL, f.sinkURL = o.URL, s.URL
	return f
}

// serve publishes a generated video of size bytes and returns its URL.
func (f *fixtures) serve(name string, size int64, file mediaorigin.File) string {
	file.Source, file.Size, file.ContentType = mediaorigin.NewGenerated(name, size), size, "video/mp4"
	f.origin.Put("/"+name, file)
	return fmt.Sprintf("%s/%s", f.originURL, name)
}

const (
	mib = 1 << 20
	gib = 1 << 30
)

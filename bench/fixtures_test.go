package bench

import (
	"fmt"
	"net/http/httptest"
	"os"
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

// smoke is set by BENCH_SMOKE=1: CI runs every benchmark once at reduced
// sizes (`go test ./bench -run '^$' -bench . -benchtime 1x`) to prove it
// still runs; its figures mean nothing.
var smoke = os.Getenv("BENCH_SMOKE") != ""

// sized is full, or small in a smoke run.
func sized[T ~int | ~int64](full, small T) T {
	if smoke {
		return small
	}
	return full
}

// reportGoal reports whether this run met the benchmark's goal (stated in
// its documentation) as goal_met, 1 or 0. CI does not fail on it: the
// goals are ratios judged on the median of several runs on a quiet machine.
func reportGoal(b *testing.B, met bool) {
	v := 0.0
	if met {
		v = 1
	}
	b.ReportMetric(v, "goal_met")
}

package bench

import (
	"fmt"
	"testing"

	"github.com/wochit-ingest/wochit-ingest/devstack/mediaorigin"
)

// BenchmarkThumbnailBurst measures a worker's peak RSS while it copies 1000
// slow thumbnails at once — 2 MiB each, trickling at 256 KiB/s, so all are
// in flight together — against the same process copying one (the baseline,
// in the same iteration). Small files are read whole before their upload,
// within the process's memory budget; the rest stream unbuffered. The same
// burst without a budget (every file buffered) shows what the budget saves.
func BenchmarkThumbnailBurst(b *testing.B) {
	const (
		count = 1000
		size  = 2 * mib
		rate  = 256 << 10
	)
	f := newFixtures(b)
	body := mediaorigin.PaddedThumbnail("burst", size)
	var urls []string
	for i := range count {
		path := fmt.Sprintf("/thumb-%d.png", i)
		f.origin.Put(path, mediaorigin.File{Body: body, ContentType: "image/png", BytesPerSecond: rate})
		urls = append(urls, f.originURL+path)
	}
	thumbnails := []string{"BENCH_KIND=thumbnail"}
	var base, burst, unbudgeted, seconds float64
	for b.Loop() {
		one := runCopy(b, "transfer", f.sinkURL, urls[:1], thumbnails...)
		all := runCopy(b, "transfer", f.sinkURL, urls, thumbnails...)
		none := runCopy(b, "transfer", f.sinkURL, urls, append(thumbnails, fmt.Sprintf("BENCH_BUDGET=%d", int64(1)<<40))...)
		for _, m := range []measurement{all, none} {
			if m.bytes != count*size {
				b.Fatalf("copied %d bytes, want %d", m.bytes, count*size)
			}
		}
		base += float64(one.maxRSS)
		burst += float64(all.maxRSS - one.maxRSS)
		unbudgeted += float64(none.maxRSS - one.maxRSS)
		seconds += all.seconds
	}
	n := float64(b.N)
	b.ReportMetric(base/n/mib, "rss-one-MiB")
	b.ReportMetric(burst/n/mib, "rss-1000-minus-one-MiB")
	b.ReportMetric(unbudgeted/n/mib, "rss-1000-unbudgeted-minus-one-MiB")
	b.ReportMetric(seconds/n, "burst-seconds")
}

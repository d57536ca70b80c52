package bench

import (
	"fmt"
	"strings"
	"testing"

	"github.com/wochit-ingest/wochit-ingest/devstack/mediaorigin"
)

// memoryBudget is the worker's default TRANSFER_MEMORY_BUDGET, which the
// children run with unless BENCH_BUDGET says otherwise.
const memoryBudget = 256 * mib

// perTransferBound is what each transfer in a burst may hold beyond the
// memory budget: its goroutines, its connections' buffers, a small copy
// buffer.
const perTransferBound = 0.3 * mib

// BenchmarkThumbnailBurst measures a worker's peak RSS while its light queue
// is as busy as it gets, against the same process doing one of the same (the
// baseline, in the same iteration):
//
//   - "2MiB": 1000 slow thumbnails at once — 2 MiB each, trickling at
//     256 KiB/s so that all are in flight together. Files that fit in one
//     upload chunk are read whole before their upload, within the process's
//     memory budget; the rest stream unbuffered. The same burst with an
//     unlimited budget (every file buffered) shows what the budget saves.
//   - "ranged-40MiB": 100 thumbnails of 40 MiB at once (a worker's
//     light-queue slots), from an origin that serves ranges: each streams in
//     one piece with an upload chunk from the budget, or unbuffered when the
//     budget is spent — never in parts, whose copy buffers the budget would
//     not count.
//   - "reuse-only": 100 reuse-only runs at once (the links expired; the
//     workflow runs them on the light queue) for videos stored earlier whose
//     moov is nearly 1 MiB. The callback's media come from the object's
//     metadata: no object byte is read (object-reads-per-run).
//
// Goal (goal_met): the transfers' peak stays under the memory budget
// (256 MiB) plus 0.3 MiB per transfer over the baseline — the reuse-only
// runs, which buffer nothing, under 0.3 MiB per run — and reuse-only runs
// read no object bytes.
func BenchmarkThumbnailBurst(b *testing.B) {
	f := newFixtures(b)
	thumbnails := []string{"BENCH_KIND=thumbnail"}

	b.Run("2MiB", func(b *testing.B) {
		count, size := sized(1000, 20), sized(2*mib, 256<<10)
		const rate = 256 << 10
		body := mediaorigin.PaddedThumbnail("burst", size)
		var urls []string
		for i := range count {
			path := fmt.Sprintf("/thumb-%d.png", i)
			f.origin.Put(path, mediaorigin.File{Body: body, ContentType: "image/png", BytesPerSecond: rate})
			urls = append(urls, f.originURL+path)
		}
		var base, burst, unbudgeted, seconds float64
		for b.Loop() {
			one := runCopy(b, "transfer", f.sinkURL, urls[:1], thumbnails...)
			all := runCopy(b, "transfer", f.sinkURL, urls, thumbnails...)
			none := runCopy(b, "transfer", f.sinkURL, urls, append(thumbnails, fmt.Sprintf("BENCH_BUDGET=%d", int64(1)<<40))...)
			for _, m := range []measurement{all, none} {
				if m.bytes != int64(count*size) {
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
		b.ReportMetric(burst/n/mib, fmt.Sprintf("rss-%d-minus-one-MiB", count))
		b.ReportMetric(unbudgeted/n/mib, fmt.Sprintf("rss-%d-unbudgeted-minus-one-MiB", count))
		b.ReportMetric(seconds/n, "burst-seconds")
		reportBound(b, burst/n, memoryBudget+perTransferBound*float64(count))
	})

	b.Run("ranged-40MiB", func(b *testing.B) {
		count, size := sized(100, 4), sized(40*mib, 4*mib)
		settings := thumbnails
		if smoke {
			settings = append(settings, fmt.Sprintf("BENCH_PART=%d", mib)) // larger than a part, as 40 MiB is
		}
		body := mediaorigin.PaddedThumbnail("burst40", size)
		var urls []string
		for i := range count {
			path := fmt.Sprintf("/thumb40-%d.png", i)
			f.origin.Put(path, mediaorigin.File{Body: body, ContentType: "image/png"})
			urls = append(urls, f.originURL+path)
		}
		var base, burst, seconds float64
		for b.Loop() {
			one := runCopy(b, "transfer", f.sinkURL, urls[:1], settings...)
			all := runCopy(b, "transfer", f.sinkURL, urls, settings...)
			if all.bytes != int64(count*size) {
				b.Fatalf("copied %d bytes, want %d", all.bytes, count*size)
			}
			base += float64(one.maxRSS)
			burst += float64(all.maxRSS - one.maxRSS)
			seconds += all.seconds
		}
		n := float64(b.N)
		b.ReportMetric(base/n/mib, "rss-one-MiB")
		b.ReportMetric(burst/n/mib, fmt.Sprintf("rss-%d-minus-one-MiB", count))
		b.ReportMetric(seconds/n, "burst-seconds")
		reportBound(b, burst/n, memoryBudget+perTransferBound*float64(count))
	})

	b.Run("reuse-only", func(b *testing.B) {
		count, size, moov := sized(100, 4), sized[int64](4*mib, 2*mib), sized(mib-64<<10, 256<<10)
		var urls, ids []string
		for i := range count {
			name := fmt.Sprintf("reused-%d.mp4", i)
			file := mediaorigin.File{Source: mediaorigin.NewGeneratedWith(name, size, mediaorigin.VideoOptions{MoovPadding: moov}),
				Size: size, ContentType: "video/mp4"}
			f.origin.Put("/"+name, file)
			urls, ids = append(urls, f.originURL+"/"+name), append(ids, fmt.Sprintf("reused-%d", i))
		}
		// Stored once, by ordinary runs, before the clock starts.
		stored := runCopy(b, "transfer", f.sinkURL, urls, "BENCH_IDS="+strings.Join(ids, " "))
		if stored.bytes != int64(count)*size {
			b.Fatalf("stored %d bytes, want %d", stored.bytes, int64(count)*size)
		}
		reuse := []string{"BENCH_REUSE_ONLY=1", "BENCH_IDS=" + strings.Join(ids, " ")}
		var base, burst, reads float64
		for b.Loop() {
			one := runCopy(b, "transfer", f.sinkURL, urls[:1], reuse...)
			before := f.sink.Reads()
			all := runCopy(b, "transfer", f.sinkURL, urls, reuse...)
			reads += float64(f.sink.Reads()-before) / float64(count)
			if all.bytes != int64(count)*size || all.described != count {
				b.Fatalf("reused %d bytes, %d with media metadata; want %d, all %d", all.bytes, all.described, int64(count)*size, count)
			}
			base += float64(one.maxRSS)
			burst += float64(all.maxRSS - one.maxRSS)
		}
		n := float64(b.N)
		b.ReportMetric(base/n/mib, "rss-one-MiB")
		b.ReportMetric(burst/n/mib, fmt.Sprintf("rss-%d-minus-one-MiB", count))
		b.ReportMetric(reads/n, "object-reads-per-run")
		reportBound(b, burst/n, perTransferBound*float64(count), reads == 0)
	})
}

// reportBound reports the RSS bound a burst is held to and whether it (and
// every other condition) was met.
func reportBound(b *testing.B, got, bound float64, also ...bool) {
	b.ReportMetric(bound/mib, "rss-bound-MiB")
	met := got <= bound
	for _, ok := range also {
		met = met && ok
	}
	reportGoal(b, met)
}

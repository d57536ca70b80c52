package mediainfo

import (
	"testing"

	"github.com/wochit-ingest/wochit-ingest/devstack/mediaorigin"
	"github.com/wochit-ingest/wochit-ingest/internal/mediacheck"
)

// BenchmarkRead64MiB reads the Info of a generated 64 MiB MP4, reporting
// the bytes read (read-B/op), which must be the moov's (moov-B), and the
// ReadAt calls (reads/op): one, where a ranged GET costs a round trip.
func BenchmarkRead64MiB(b *testing.B) {
	for _, tt := range []struct {
		name string
		opts mediaorigin.VideoOptions
	}{
		{"moov-at-end", mediaorigin.VideoOptions{}},
		{"fast-start", mediaorigin.VideoOptions{FastStart: true}},
	} {
		b.Run(tt.name, func(b *testing.B) {
			g := mediaorigin.NewGeneratedWith("bench", 64<<20, tt.opts)
			st, err := mediacheck.Check(g, g.Size())
			if err != nil {
				b.Fatal(err)
			}
			moov, _ := st.Find("moov")
			c := &countingReader{r: g}
			ops := 0
			for b.Loop() {
				info, err := Read(c, g.Size(), st)
				if err != nil || info.Codec == "" {
					b.Fatalf("Read = %+v, %v", info, err)
				}
				ops++
			}
			if c.bytes != int64(ops)*moov.Size || len(c.calls) != ops {
				b.Fatalf("%d bytes in %d reads for %d Reads of a %d-byte moov", c.bytes, len(c.calls), ops, moov.Size)
			}
			b.ReportMetric(float64(c.bytes)/float64(ops), "read-B/op")
			b.ReportMetric(float64(len(c.calls))/float64(ops), "reads/op")
			b.ReportMetric(float64(moov.Size), "moov-B")
			b.ReportMetric(float64(g.Size()), "file-B")
		})
	}
}

package bench

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"

	"cloud.google.com/go/storage"
	"golang.org/x/sync/errgroup"

	"github.com/wochit-ingest/wochit-ingest/activities"
)

// The baselines of BenchmarkTransferVsRelay: the best plain copy for each
// kind of origin, through the same HTTP and storage clients, with the same
// copy buffer as TransferToGCS (relayBufferSize), so that the ratio measures
// what TransferToGCS's checks and bookkeeping cost, not a tuning or a
// parallelism the relay lacks.

// relayBufferSize is the copy unit of both relays: TransferToGCS's.
const relayBufferSize = 1 << 20

// relay is the baseline for an origin without ranges: one GET streamed
// into one storage writer with the worker's upload chunk size.
func relay(ctx context.Context, acts *activities.Activities, url, name string) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	resp, err := acts.Origin.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	w := acts.Storage.Bucket(acts.Bucket).Object(name).NewWriter(ctx)
	w.ChunkSize = cmp.Or(acts.Transfer.ChunkSize, activities.DefaultTransferSettings.ChunkSize)
	n, err := io.CopyBuffer(w, onlyReader{resp.Body}, make([]byte, relayBufferSize))
	if err != nil {
		return n, err
	}
	return n, w.Close()
}

// rangedRelay is the baseline for an origin with ranges: what TransferToGCS
// does with one, minus its checks — the same number of parts in flight, of
// the same size, each a ranged GET streamed into its own object without a
// chunk buffer; part 0 comes with the request that learns the size; the
// parts are composed (32 per request, in rounds) and then deleted.
func rangedRelay(ctx context.Context, acts *activities.Activities, url, name string) (int64, error) {
	partSize := cmp.Or(acts.Transfer.PartSize, activities.DefaultTransferSettings.PartSize)
	concurrency := cmp.Or(acts.Transfer.PartConcurrency, activities.DefaultTransferSettings.PartConcurrency)
	first, total, err := getRange(ctx, acts, url, 0, partSize)
	if err != nil {
		return 0, err
	}
	bucket := acts.Storage.Bucket(acts.Bucket)
	count := int((total + partSize - 1) / partSize)
	parts := make([]*storage.ObjectHandle, count)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(concurrency)
	for i := range count {
		parts[i] = bucket.Object(fmt.Sprintf("%s.parts/%06d", name, i))
		body := first
		g.Go(func() error {
			offset := int64(i) * partSize
			length := min(partSize, total-offset)
			if i > 0 {
				var err error
				if body, _, err = getRange(gctx, acts, url, offset, length); err != nil {
					return err
				}
			}
			defer body.Close()
			w := parts[i].NewWriter(gctx)
			w.ChunkSize = 0
			n, err := io.CopyBuffer(w, onlyReader{io.LimitReader(body, length)}, make([]byte, relayBufferSize))
			if err == nil && n != length {
				err = fmt.Errorf("part %d: %d of %d bytes", i, n, length)
			}
			if err != nil {
				return err // the writer's context ends with gctx: nothing is stored
			}
			return w.Close()
		})
	}
	if err := g.Wait(); err != nil {
		return 0, err
	}
	sources, garbage := parts, parts
	for round := 0; len(sources) > 32; round++ {
		var next []*storage.ObjectHandle
		for start := 0; start < len(sources); start += 32 {
			group := sources[start:min(start+32, len(sources))]
			inter := bucket.Object(fmt.Sprintf("%s.parts/compose-%d-%06d", name, round, start/32))
			if _, err := inter.ComposerFrom(group...).Run(ctx); err != nil {
				return 0, err
			}
			next, garbage = append(next, inter), append(garbage, inter)
		}
		sources = next
	}
	attrs, err := bucket.Object(name).ComposerFrom(sources...).Run(ctx)
	if err != nil {
		return 0, err
	}
	var del errgroup.Group
	del.SetLimit(8)
	for _, o := range garbage {
		del.Go(func() error { return o.Delete(ctx) })
	}
	return attrs.Size, del.Wait()
}

// getRange requests length bytes at offset and returns the body and the
// file's size from Content-Range; anything but that range is an error.
func getRange(ctx context.Context, acts *activities.Activities, url string, offset, length int64) (io.ReadCloser, int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, 0, err
	}
	req.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", offset, offset+length-1))
	resp, err := acts.Origin.Do(req)
	if err != nil {
		return nil, 0, err
	}
	want := fmt.Sprintf("bytes %d-", offset)
	cr := resp.Header.Get("Content-Range")
	_, size, _ := strings.Cut(cr, "/")
	total, err := strconv.ParseInt(size, 10, 64)
	if resp.StatusCode != http.StatusPartialContent || !strings.HasPrefix(cr, want) || err != nil {
		resp.Body.Close()
		return nil, 0, fmt.Errorf("ranged relay: %s answered %d, Content-Range %q: it needs an origin with ranges", url, resp.StatusCode, cr)
	}
	return resp.Body, total, nil
}

// onlyReader hides any WriterTo, so io.CopyBuffer uses the buffer.
type onlyReader struct{ io.Reader }

// startProfiles starts the CPU profile and the block profile a child was
// asked for; stop writes them.
func startProfiles(cpuPath, blockPath string) (stop func() error, err error) {
	var cpu *os.File
	if cpuPath != "" {
		if cpu, err = os.Create(cpuPath); err != nil {
			return nil, err
		}
		if err := pprof.StartCPUProfile(cpu); err != nil {
			return nil, err
		}
	}
	if blockPath != "" {
		runtime.SetBlockProfileRate(int(10_000)) // a sample per 10 µs blocked
	}
	return func() error {
		if cpu != nil {
			pprof.StopCPUProfile()
			if err := cpu.Close(); err != nil {
				return err
			}
		}
		if blockPath == "" {
			return nil
		}
		f, err := os.Create(blockPath)
		if err != nil {
			return err
		}
		if err := pprof.Lookup("block").WriteTo(f, 0); err != nil {
			f.Close()
			return err
		}
		return f.Close()
	}, nil
}

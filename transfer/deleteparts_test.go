package transfer

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"

	"cloud.google.com/go/storage"
	"google.golang.org/api/iterator"
)

// deleteParts deletes each temporary object only as it listed it: a part
// a concurrent attempt still at work wrote again (a new generation) or
// marked verified (a new metageneration) since, survives. (Mutations: an
// unconditional delete in deleteParts removes both; matching only the
// generation removes the part marked verified.)
func TestDeletePartsDeletesOnlyWhatItListed(t *testing.T) {
	ctx := context.Background()
	var bucket *storage.BucketHandle
	write := func(name, data string) *storage.ObjectAttrs {
		w := bucket.Object(name).NewWriter(ctx)
		w.ChunkSize = 0
		w.Write([]byte(data))
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		return w.Attrs()
	}
	// Between the listing and each delete, the concurrent attempt acts.
	var marked, rewritten sync.Once
	gcs := newEmulatorClientWith(t, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodDelete {
				switch {
				case strings.HasSuffix(r.URL.Path, "/000001"):
					marked.Do(func() {
						if _, err := bucket.Object("p/000001").Update(ctx, storage.ObjectAttrsToUpdate{Metadata: map[string]string{"crc32c": "x"}}); err != nil {
							t.Errorf("marking part 1: %v", err)
						}
					})
				case strings.HasSuffix(r.URL.Path, "/000002"):
					rewritten.Do(func() { write("p/000002", "part 2, again") })
				}
			}
			next.ServeHTTP(w, r)
		})
	})
	bucket = gcs.Bucket("b")
	write("p/000000", "part 0")
	first1 := write("p/000001", "part 1")
	first2 := write("p/000002", "part 2")

	c := &copier{dst: Destination{Bucket: bucket}, opts: Options{}.withDefaults()}
	c.deleteParts(ctx, "p/")

	var left []*storage.ObjectAttrs
	it := bucket.Objects(ctx, &storage.Query{Prefix: "p/"})
	for {
		attrs, err := it.Next()
		if errors.Is(err, iterator.Done) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		left = append(left, attrs)
	}
	if len(left) != 2 || left[0].Name != "p/000001" || left[1].Name != "p/000002" {
		var names []string
		for _, a := range left {
			names = append(names, a.Name)
		}
		t.Fatalf("left %v; want the part marked since and the part written since", names)
	}
	if left[0].Generation != first1.Generation || left[0].Metageneration != 2 || left[1].Generation == first2.Generation {
		t.Fatalf("left part 1 at generation %d metageneration %d, part 2 at generation %d; want part 1 as marked, part 2 as written again",
			left[0].Generation, left[0].Metageneration, left[1].Generation)
	}
}

//go:build topology

package topology

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// startGCS serves the GCS emulator on a loopback port, its objects on disk
// under gcsRoot, and makes the test's client of it.
func (tp *topology) startGCS(t *testing.T) {
	t.Helper()
	l := listen(t)
	tp.gcsURL = "http://" + l.Addr().String()
	h, c, stop, err := newGCSEmulator(gcsRoot(t, tp.dir), tp.gcsURL, bucket)
	if err != nil {
		t.Fatal(err)
	}
	tp.gcsHandler, tp.gcs = h, c
	faulty := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if tp.gcsDown.Load() {
			http.Error(w, "GCS is down (test fault)", http.StatusServiceUnavailable)
			return
		}
		h.ServeHTTP(w, r)
	})
	srv := &http.Server{Handler: faulty, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close(); stop() })
}

// gcsRoot is where the GCS emulator keeps objects: on disk, as in dev, but on
// a filesystem whose extended attributes hold what GCS's metadata holds.
// gcsemu keeps an object's attributes in one xattr, and ext4 holds about
// 4 KiB of them per file: the videoContext of control characters, whose
// 2048 bytes JSON-escape to about 7 KiB, does not fit (the emulator answers
// 400, the transfer retries until its deadline), where GCS takes 8 KiB of
// custom metadata. tmpfs (/dev/shm) takes 64 KiB. TOPOLOGY_GCS_DIR chooses.
func gcsRoot(t *testing.T, dir string) string {
	t.Helper()
	candidates := []string{os.Getenv("TOPOLOGY_GCS_DIR"), "/dev/shm", dir}
	if candidates[0] != "" {
		candidates = candidates[:1]
	}
	removeAbandonedGCSRoots()
	for _, c := range candidates {
		var fs syscall.Statfs_t
		if c == "" || syscall.Statfs(c, &fs) != nil || fs.Bavail*uint64(fs.Bsize) < 1<<30 {
			continue // the test stores about 200 MiB
		}
		root, err := os.MkdirTemp(c, "topology-gcs-")
		if err != nil {
			continue
		}
		probe := filepath.Join(root, "owner-pid")
		if err := os.WriteFile(probe, []byte(strconv.Itoa(os.Getpid())), 0o644); err == nil && syscall.Setxattr(probe, "user.probe", make([]byte, 16<<10), 0) == nil {
			// The emulator stages uploads in a directory beside root.
			t.Cleanup(func() { os.RemoveAll(root); os.RemoveAll(root + ".uploads") })
			return root
		}
		os.RemoveAll(root)
	}
	t.Fatalf("no filesystem among %q has 1 GiB free and holds 16 KiB of user extended attributes, which the GCS emulator needs for the widest notifications; set TOPOLOGY_GCS_DIR to a tmpfs", candidates)
	return ""
}

// removeAbandonedGCSRoots deletes emulator roots, and the uploads
// directories beside them, in /dev/shm left by test processes that were
// killed before their cleanup ran: tmpfs holds them in memory until the
// machine restarts.
func removeAbandonedGCSRoots() {
	dirs, _ := filepath.Glob("/dev/shm/topology-gcs-*")
	for _, d := range dirs {
		if root, ok := strings.CutSuffix(d, ".uploads"); ok {
			if _, err := os.Stat(root); errors.Is(err, fs.ErrNotExist) {
				os.RemoveAll(d) // its emulator's root is gone
			}
			continue
		}
		b, err := os.ReadFile(filepath.Join(d, "owner-pid"))
		pid, _ := strconv.Atoi(string(b))
		fi, statErr := os.Stat(d)
		dead := err == nil && pid > 0 && syscall.Kill(pid, 0) == syscall.ESRCH
		stale := err != nil && statErr == nil && time.Since(fi.ModTime()) > time.Hour // never got its owner's pid
		if dead || stale {
			os.RemoveAll(d)
		}
	}
}

// download returns the SHA-256 of an object's content as the emulator
// serves it (the JSON API's alt=media), asked in process: the emulator
// repeats custom metadata in X-Goog-Meta-* headers, and a videoContext of
// control characters makes headers Go's HTTP client refuses to parse.
func (tp *topology) download(name string) ([sha256.Size]byte, error) {
	req := httptest.NewRequest(http.MethodGet, tp.gcsURL+"/storage/v1/b/"+bucket+"/o/"+url.PathEscape(name)+"?alt=media", nil)
	rec := httptest.NewRecorder()
	tp.gcsHandler.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		return [sha256.Size]byte{}, fmt.Errorf("download of %s answered %d: %.200s", name, rec.Code, rec.Body.String())
	}
	return sha256.Sum256(rec.Body.Bytes()), nil
}

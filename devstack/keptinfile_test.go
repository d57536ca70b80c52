package devstack

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// dev's generated values (the payload key, the callback secret) are kept:
// generated once, read back on every restart, and a file that is there but
// cannot be read stops dev instead of being replaced, which would make the
// history written with the old key unreadable.
func TestKeptInFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "payload-keys")
	generated := 0
	gen := func() string { generated++; return "dev:value" }

	for range 2 {
		v, err := keptInFile(path, "dev payload key", gen)
		if err != nil || v != "dev:value" {
			t.Fatalf("keptInFile = %q, %v", v, err)
		}
	}
	if generated != 1 {
		t.Fatalf("generated %d times, want once", generated)
	}
	if info, err := os.Stat(path); err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("kept file: %v, %v; want mode 0600", info, err)
	}

	// A path that exists but cannot be read as a file (a directory; root
	// reads files whatever their mode).
	unreadable := filepath.Join(dir, "unreadable")
	if err := os.Mkdir(unreadable, 0o700); err != nil {
		t.Fatal(err)
	}
	if v, err := keptInFile(unreadable, "dev payload key", gen); err == nil || !strings.Contains(err.Error(), "reading the dev payload key") {
		t.Fatalf("keptInFile(a directory) = %q, %v; want a read error", v, err)
	}
	if generated != 1 {
		t.Fatal("a value was generated in place of an unreadable file")
	}
}

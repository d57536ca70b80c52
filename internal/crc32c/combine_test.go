package crc32c

import (
	"hash/crc32"
	"math/rand/v2"
	"testing"
)

func TestCRC32CCombineMatchesWholeChecksum(t *testing.T) {
	table := crc32.MakeTable(crc32.Castagnoli)
	r := rand.New(rand.NewPCG(1, 2))
	for _, sizes := range [][2]int{{0, 0}, {0, 10}, {10, 0}, {1, 1}, {1000, 3}, {65536, 65537}, {3, 1 << 20}} {
		a, b := make([]byte, sizes[0]), make([]byte, sizes[1])
		for i := range a {
			a[i] = byte(r.Uint32())
		}
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		want := crc32.Checksum(append(append([]byte(nil), a...), b...), table)
		got := Combine(crc32.Checksum(a, table), crc32.Checksum(b, table), int64(len(b)))
		if got != want {
			t.Errorf("combine(%d, %d bytes) = %08x, want %08x", sizes[0], sizes[1], got, want)
		}
	}
}

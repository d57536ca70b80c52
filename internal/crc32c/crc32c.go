package crc32c

import (
	"encoding/base64"
	"encoding/binary"
	"hash/crc32"
)

// Table is the Castagnoli polynomial's table, for crc32.New and crc32.Update.
var Table = crc32.MakeTable(crc32.Castagnoli)

// Checksum returns the CRC32C of b.
func Checksum(b []byte) uint32 { return crc32.Checksum(b, Table) }

// Encode writes a CRC32C the way GCS does in object resources and
// X-Goog-Hash: base64 of its four big-endian bytes.
func Encode(c uint32) string {
	return base64.StdEncoding.EncodeToString(binary.BigEndian.AppendUint32(nil, c))
}

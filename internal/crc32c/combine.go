// Package crc32c holds the CRC32C (Castagnoli) pieces GCS work needs: the
// table, GCS's base64 encoding, and combining checksums — the CRC32C of A‖B
// from those of A and B, the way GCS derives a composite object's CRC32C from
// its components.
package crc32c

// Combine returns the CRC32C of A‖B from crc(A), crc(B) and len(B). It is
// zlib's crc32_combine for the Castagnoli polynomial: appending len(B) zero
// bits to A is a linear map over GF(2), applied by repeated squaring.
func Combine(crcA, crcB uint32, lenB int64) uint32 {
	if lenB <= 0 {
		return crcA
	}
	var even, odd [32]uint32
	odd[0] = 0x82F63B78 // Castagnoli, reflected
	row := uint32(1)
	for n := 1; n < 32; n++ {
		odd[n] = row
		row <<= 1
	}
	gf2Square(&even, &odd) // the operator for two zero bits
	gf2Square(&odd, &even) // four zero bits
	for {
		// Each iteration applies the operator for len(B)'s next bit: one
		// zero byte first, then doubling.
		gf2Square(&even, &odd)
		if lenB&1 != 0 {
			crcA = gf2Times(&even, crcA)
		}
		lenB >>= 1
		if lenB == 0 {
			break
		}
		gf2Square(&odd, &even)
		if lenB&1 != 0 {
			crcA = gf2Times(&odd, crcA)
		}
		lenB >>= 1
		if lenB == 0 {
			break
		}
	}
	return crcA ^ crcB
}

func gf2Times(mat *[32]uint32, vec uint32) uint32 {
	var sum uint32
	for i := 0; vec != 0; i, vec = i+1, vec>>1 {
		if vec&1 != 0 {
			sum ^= mat[i]
		}
	}
	return sum
}

func gf2Square(square, mat *[32]uint32) {
	for n := range 32 {
		square[n] = gf2Times(mat, mat[n])
	}
}

package mediaorigin

import (
	"encoding/binary"
	"testing"
)

// A reader of the few moov fields the tests check, written from ISO/IEC
// 14496-12 and ITU-T H.264 rather than from the generator.

type video struct {
	width, height       int64 // from tkhd, which must agree with avc1 and the SPS
	ms, mediaDuration   int64 // mvhd (and tkhd) in ms; mdhd in its timescale
	codec, handler      string
	chunkOffset         int64
	samples, sampleSize int64
}

// child returns the payload of the first box of type typ in b.
func child(t *testing.T, b []byte, typ string) []byte {
	t.Helper()
	for len(b) >= 8 {
		n := binary.BigEndian.Uint32(b)
		if n < 8 || int(n) > len(b) {
			t.Fatalf("a box of %d bytes in %d", n, len(b))
		}
		if string(b[4:8]) == typ {
			return b[8:n]
		}
		b = b[n:]
	}
	t.Fatalf("no %s box", typ)
	return nil
}

func u32(b []byte, at int) int64 { return int64(binary.BigEndian.Uint32(b[at:])) }
func u16(b []byte, at int) int64 { return int64(binary.BigEndian.Uint16(b[at:])) }

func describe(t *testing.T, moovBox []byte) video {
	t.Helper()
	moov := child(t, moovBox, "moov")
	mvhd, trak := child(t, moov, "mvhd"), child(t, moov, "trak")
	tkhd, mdia := child(t, trak, "tkhd"), child(t, trak, "mdia")
	mdhd, hdlr := child(t, mdia, "mdhd"), child(t, mdia, "hdlr")
	stbl := child(t, child(t, mdia, "minf"), "stbl")
	stsd, stts, stsc := child(t, stbl, "stsd"), child(t, stbl, "stts"), child(t, stbl, "stsc")
	stsz, stco := child(t, stbl, "stsz"), child(t, stbl, "stco")
	entry := stsd[8:] // version, flags, entry_count
	avc1 := child(t, entry, "avc1")
	if u32(mvhd, 12) != 1000 || u32(mvhd, 16) != u32(tkhd, 20) || u32(mdhd, 12) != 12800 {
		t.Errorf("timescales or durations disagree: mvhd %d/%d, tkhd %d, mdhd %d", u32(mvhd, 16), u32(mvhd, 12), u32(tkhd, 20), u32(mdhd, 12))
	}
	v := video{
		width: u32(tkhd, 76) >> 16, height: u32(tkhd, 80) >> 16,
		ms: u32(mvhd, 16), mediaDuration: u32(mdhd, 16),
		codec: string(entry[4:8]), handler: string(hdlr[8:12]),
		chunkOffset: u32(stco, 8), samples: u32(stsz, 8), sampleSize: u32(stsz, 4),
	}
	if w, h := u16(avc1, 24), u16(avc1, 26); w != v.width || h != v.height {
		t.Errorf("avc1 says %d×%d, tkhd %d×%d", w, h, v.width, v.height)
	}
	avcC := child(t, avc1[78:], "avcC")
	spsLen := int(u16(avcC, 6))
	if w, h := spsSize(t, avcC[8:8+spsLen]); w != v.width || h != v.height || avcC[1] != 77 {
		t.Errorf("the SPS says %d×%d, profile %d; tkhd %d×%d", w, h, avcC[1], v.width, v.height)
	}
	if u32(stts, 4) != 1 || u32(stts, 8) != v.samples || u32(stts, 8)*u32(stts, 12) != v.mediaDuration {
		t.Errorf("stts %x does not cover %d samples over %d", stts, v.samples, v.mediaDuration)
	}
	if u32(stsc, 4) != 1 || u32(stsc, 8) != 1 || u32(stsc, 12) != v.samples || u32(stco, 4) != 1 {
		t.Errorf("stsc %x, stco %x: want every sample in one chunk", stsc, stco)
	}
	return v
}

// spsSize decodes the picture size from a Main-profile SPS NAL unit.
func spsSize(t *testing.T, sps []byte) (width, height int64) {
	var rbsp []byte
	for i, b := range sps[1:] {
		if b == 3 && i >= 2 && sps[i-1+1] == 0 && sps[i-2+1] == 0 {
			continue // emulation prevention
		}
		rbsp = append(rbsp, b)
	}
	pos := 24 // profile, constraints, level
	bit := func() int64 { b := int64(rbsp[pos/8]>>(7-pos%8)) & 1; pos++; return b }
	ue := func() int64 {
		zeros := 0
		for bit() == 0 {
			zeros++
		}
		v := int64(1)
		for range zeros {
			v = v<<1 | bit()
		}
		return v - 1
	}
	ue() // seq_parameter_set_id
	ue() // log2_max_frame_num_minus4
	if ue() != 2 {
		t.Fatal("pic_order_cnt_type is not 2")
	}
	ue()  // max_num_ref_frames
	bit() // gaps_in_frame_num_value_allowed_flag
	width, height = (ue()+1)*16, (ue()+1)*16
	if bit() != 1 { // frame_mbs_only_flag
		t.Fatal("an interlaced SPS")
	}
	bit() // direct_8x8_inference_flag
	if bit() == 1 {
		l, r, tp, b := ue(), ue(), ue(), ue()
		width, height = width-2*(l+r), height-2*(tp+b)
	}
	return width, height
}

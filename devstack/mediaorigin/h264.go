package mediaorigin

import "math/bits"

// avcConfig is the payload of an avcC box (ISO/IEC 14496-15, 5.3.3.1) for
// a Main-profile H.264 stream of width×height: real parameter sets, so a
// parser that reads the SPS finds the same size as the sample entry.
func avcConfig(width, height int) []byte {
	sps, pps := parameterSets(width, height)
	c := []byte{1, sps[1], sps[2], sps[3], 0xFF, 0xE1} // version, profile, constraints, level, 4-byte NAL lengths, one SPS
	c = append(c, byte(len(sps)>>8), byte(len(sps)))
	c = append(c, sps...)
	c = append(c, 1, byte(len(pps)>>8), byte(len(pps)))
	return append(c, pps...)
}

// parameterSets returns the SPS and PPS NAL units (ITU-T H.264, 7.3.2.1
// and 7.3.2.2) of a progressive Main-profile stream with no VUI.
func parameterSets(width, height int) (sps, pps []byte) {
	mbW, mbH := (width+15)/16, (height+15)/16
	var s bitWriter
	s.bits(77, 8)   // profile_idc: Main
	s.bits(0x40, 8) // constraint_set1_flag: decodable as Main
	s.bits(uint64(level(mbW*mbH)), 8)
	s.ue(0)                                              // seq_parameter_set_id
	s.ue(0)                                              // log2_max_frame_num_minus4
	s.ue(2)                                              // pic_order_cnt_type: output order is decode order
	s.ue(1)                                              // max_num_ref_frames
	s.bits(0, 1)                                         // gaps_in_frame_num_value_allowed_flag
	s.ue(uint32(mbW - 1))                                // pic_width_in_mbs_minus1
	s.ue(uint32(mbH - 1))                                // pic_height_in_map_units_minus1
	s.bits(1, 1)                                         // frame_mbs_only_flag
	s.bits(1, 1)                                         // direct_8x8_inference_flag
	right, bottom := (mbW*16-width)/2, (mbH*16-height)/2 // in 2-pixel units for 4:2:0
	if right > 0 || bottom > 0 {
		s.bits(1, 1) // frame_cropping_flag
		s.ue(0)
		s.ue(uint32(right))
		s.ue(0)
		s.ue(uint32(bottom))
	} else {
		s.bits(0, 1)
	}
	s.bits(0, 1) // vui_parameters_present_flag

	var p bitWriter
	p.ue(0)      // pic_parameter_set_id
	p.ue(0)      // seq_parameter_set_id
	p.bits(0, 1) // entropy_coding_mode_flag: CAVLC
	p.bits(0, 1) // bottom_field_pic_order_in_frame_present_flag
	p.ue(0)      // num_slice_groups_minus1
	p.ue(0)      // num_ref_idx_l0_default_active_minus1
	p.ue(0)      // num_ref_idx_l1_default_active_minus1
	p.bits(0, 1) // weighted_pred_flag
	p.bits(0, 2) // weighted_bipred_idc
	p.se(0)      // pic_init_qp_minus26
	p.se(0)      // pic_init_qs_minus26
	p.se(0)      // chroma_qp_index_offset
	p.bits(1, 1) // deblocking_filter_control_present_flag
	p.bits(0, 1) // constrained_intra_pred_flag
	p.bits(0, 1) // redundant_pic_cnt_present_flag
	return nal(0x67, s.rbsp()), nal(0x68, p.rbsp())
}

// level is the lowest H.264 level whose frame size (in macroblocks, Table
// A-1) fits mbs; the frame rate is low enough for any of them.
func level(mbs int) byte {
	for _, l := range []struct {
		max int
		idc byte
	}{{1620, 30}, {3600, 31}, {5120, 32}, {8192, 40}, {22080, 50}, {36864, 51}} {
		if mbs <= l.max {
			return l.idc
		}
	}
	return 60
}

// nal wraps an RBSP in a NAL unit, inserting emulation prevention bytes so
// that no 0x000000–0x000003 sequence appears in it (7.4.1).
func nal(header byte, rbsp []byte) []byte {
	out := []byte{header}
	zeros := 0
	for _, b := range rbsp {
		if zeros >= 2 && b <= 3 {
			out, zeros = append(out, 3), 0
		}
		out = append(out, b)
		if b == 0 {
			zeros++
		} else {
			zeros = 0
		}
	}
	return out
}

// bitWriter writes the bit fields of H.264 syntax, most significant first.
type bitWriter struct {
	b    []byte
	used uint // bits used in the last byte; 0 when it is full or absent
}

func (w *bitWriter) bits(v uint64, n int) {
	for i := n - 1; i >= 0; i-- {
		if w.used == 0 {
			w.b = append(w.b, 0)
		}
		w.b[len(w.b)-1] |= byte(v>>i&1) << (7 - w.used)
		w.used = (w.used + 1) % 8
	}
}

// ue writes v as unsigned Exp-Golomb (9.1): v+1 in binary after as many
// zeros as it has bits, less one.
func (w *bitWriter) ue(v uint32) {
	x := uint64(v) + 1
	n := bits.Len64(x)
	w.bits(0, n-1)
	w.bits(x, n)
}

// se writes v as signed Exp-Golomb (9.1.1).
func (w *bitWriter) se(v int32) {
	if v > 0 {
		w.ue(uint32(2*v - 1))
	} else {
		w.ue(uint32(-2 * v))
	}
}

// rbsp ends the bits with rbsp_trailing_bits: a one, then zeros to a byte.
func (w *bitWriter) rbsp() []byte {
	w.bits(1, 1)
	w.used = 0
	return w.b
}

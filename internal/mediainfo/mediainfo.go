// Package mediainfo reads what a customer's player needs to know about an
// ISO-BMFF video (MP4, MOV, M4V, 3GP) before it plays it: its duration,
// its picture size, its codec, and whether its moov comes before its media
// data ("fast start", so that playback can begin while the file
// downloads).
//
// Read takes the top-level Structure that mediacheck found and reads the
// moov box, and nothing else, in one ranged ReadAt: a file stored in GCS
// costs one ranged GET of the moov's size (typically kilobytes; about a
// megabyte for an hour of video), never a read of the media data.
//
// What Read reports is informational. Its error says why something could
// not be learned (no moov, a moov too large or unreadable, malformed
// boxes) and is meant to be logged: a caller must never fail, retry or
// delay a transfer because of it, since a file whose metadata this
// package cannot read may still play, and the bytes were verified
// elsewhere. Read never panics: panics from the box parser on hostile
// input are recovered and reported as errors.
package mediainfo

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"

	mp4 "github.com/abema/go-mp4"

	"github.com/wochit-ingest/wochit-ingest/internal/mediacheck"
)

// Info is what a player needs to know about a video. Every field is
// omitted from JSON when it is unknown.
type Info struct {
	// DurationMillis is the movie's duration (mvhd duration over its
	// timescale, rounded to the nearest millisecond); for a fragmented MP4
	// whose mvhd says 0, the mehd fragment duration. 0 when unknown.
	DurationMillis int64 `json:"durationMs,omitempty"`
	// Width and Height are the display size of the first video track in
	// pixels: tkhd's width and height (which include any pixel aspect
	// ratio), or the sample entry's coded size when tkhd has none, swapped
	// when the track matrix rotates the picture by 90 or 270 degrees (as
	// phones record portrait video). 0 when unknown.
	Width  int `json:"width,omitempty"`
	Height int `json:"height,omitempty"`
	// Codec is the RFC 6381 codecs parameter of the first video track's
	// first sample entry where its configuration box gives one
	// ("avc1.4D401F", "hvc1.1.6.L93.B0", "av01.0.08M.10", "vp09.02.10.10"),
	// and otherwise the sample entry's four-character code ("mp4v",
	// "apcn"); for an encrypted track (encv), that of its original format.
	// "" when there is no video track or the code is not printable.
	Codec string `json:"codec,omitempty"`
	// FastStart tells, for an ISO-BMFF file with a moov, whether the moov
	// comes before the first mdat (or the file has no mdat). It is a
	// pointer so that false, the case a customer most needs to see (the
	// whole file must arrive before it plays), is reported for MP4s while
	// the field is left out for files where it means nothing (WebM, PNG,
	// files without a moov). It comes from the top-level layout alone, so
	// it is reported even when the moov's content cannot be read.
	FastStart *bool `json:"fastStart,omitempty"`
}

// MaxMoovSize is the largest moov Read reads. Real ones are far smaller
// (the sample tables of a 2-hour H.264 video with AAC audio take a few
// MiB); for a larger one Read returns only FastStart, and an error. It is
// also the memory one Read may hold, per video transfer slot.
const MaxMoovSize = 16 << 20

// Read returns the Info of the size-byte file r, whose top-level boxes st
// are as mediacheck.Check or a mediacheck.Scanner found them. A file that
// is not ISO-BMFF gives an empty Info and no error, without a read. For
// ISO-BMFF, the moov (located by st) is read with a single ReadAt, and the
// media data never.
//
// The Info is always usable, though it may be partial or empty; a non-nil
// error explains what is missing and is for logging only (see the package
// documentation): never fail a transfer on it.
func Read(r io.ReaderAt, size int64, st mediacheck.Structure) (Info, error) {
	if st.Format != "iso-bmff" {
		return Info{}, nil
	}
	moov, ok := st.Find("moov")
	if !ok {
		return Info{}, errors.New("mediainfo: no top-level moov box")
	}
	fast := fastStart(st, moov)
	info := Info{FastStart: &fast}
	if moov.Offset < 0 || moov.Size < 8 || size < 0 || moov.Size > size || moov.Offset > size-moov.Size {
		return info, fmt.Errorf("mediainfo: the moov of %d bytes at offset %d does not lie within the file's %d bytes", moov.Size, moov.Offset, size)
	}
	if moov.Size > MaxMoovSize {
		return info, fmt.Errorf("mediainfo: the moov at offset %d has %d bytes, more than the %d read", moov.Offset, moov.Size, MaxMoovSize)
	}
	buf := make([]byte, moov.Size)
	if n, err := r.ReadAt(buf, moov.Offset); n < len(buf) {
		if err == nil || err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return info, fmt.Errorf("mediainfo: reading the %d-byte moov at offset %d: %w", moov.Size, moov.Offset, err)
	}
	m, err := parseMoov(buf)
	m.fill(&info)
	if err != nil {
		err = fmt.Errorf("mediainfo: the moov at offset %d: %w", moov.Offset, err)
	}
	return info, err
}

// fastStart reports whether moov comes before every recorded mdat. Boxes
// are recorded in file order, so an mdat that was not recorded (past
// mediacheck.MaxBoxes) comes after the recorded moov.
func fastStart(st mediacheck.Structure, moov mediacheck.Box) bool {
	if mdat, ok := st.Find("mdat"); ok {
		return moov.Offset < mdat.Offset
	}
	return true
}

// movie is what parseMoov found.
type movie struct {
	mvhd      bool
	timescale uint32
	duration  uint64 // mvhd's, in timescale; unknownDuration when unknown
	fragments uint64 // mehd's fragment_duration, in timescale
	video     *track // the first enabled video track, else the first one
}

// track is what was found of one trak.
type track struct {
	tkhd          bool
	enabled       bool   // tkhd's track_enabled flag
	duration      uint64 // tkhd's, in the movie timescale
	width, height uint32 // tkhd's, 16.16 fixed point
	rotated       bool   // the matrix turns the picture a quarter turn
	handler       string // hdlr's handler_type: "vide", "soun", ...
	entry         *sampleEntry
}

// sampleEntry is the first entry of a track's stsd.
type sampleEntry struct {
	width, height uint16 // a visual entry's coded size
	codec         string
}

// unknownDuration is how mvhd, tkhd and mehd durations of any version are
// held when all their bits are set: ISO/IEC 14496-12 8.2.2.3 says so
// when the duration cannot be determined.
const unknownDuration = math.MaxUint64

// fill sets info's fields from what the moov held.
func (m *movie) fill(info *Info) {
	v := m.video
	d := m.duration
	if d == 0 || d == unknownDuration {
		d = m.fragments
	}
	if (d == 0 || d == unknownDuration) && v != nil {
		d = v.duration
	}
	info.DurationMillis = millis(d, m.timescale)
	if v == nil {
		return
	}
	w, h := int((uint64(v.width)+0x8000)>>16), int((uint64(v.height)+0x8000)>>16)
	if (w == 0 || h == 0) && v.entry != nil {
		w, h = int(v.entry.width), int(v.entry.height)
	}
	if w > 0 && h > 0 {
		if v.rotated {
			w, h = h, w
		}
		info.Width, info.Height = w, h
	}
	if v.entry != nil {
		info.Codec = v.entry.codec
	}
}

// millis is d units of 1/timescale s in milliseconds, rounded; 0 when
// unknown or beyond any real video (a century).
func millis(d uint64, timescale uint32) int64 {
	if timescale == 0 || d == unknownDuration {
		return 0
	}
	ts := uint64(timescale)
	secs := d / ts
	if secs > 100*365*24*3600 {
		return 0
	}
	return int64(secs*1000 + (d%ts*1000+ts/2)/ts)
}

// parseMoov reads buf, which holds exactly one moov box, with go-mp4. It
// returns what it found even when it fails part way: a malformed trak
// costs only that trak. Panics in the parser are recovered as errors.
func parseMoov(buf []byte) (m movie, err error) {
	p := &parser{buf: buf}
	defer func() {
		if v := recover(); v != nil {
			p.fail(fmt.Errorf("the box parser panicked: %v", v))
		}
		m, err = p.m, join(p.errs)
	}()
	if _, err := mp4.ReadBoxStructure(bytes.NewReader(buf), p.handle); err != nil {
		p.fail(err)
	}
	if !p.m.mvhd {
		p.fail(errors.New("no mvhd box"))
	}
	return
}

type parser struct {
	buf   []byte
	m     movie
	cur   *track // the trak being read
	traks int
	boxes int
	errs  []error
}

// maxBoxes bounds the boxes a moov may hold, the time and memory go-mp4
// spends on it: a real one has hundreds, a hostile one of 64 MiB could
// have 8 million.
const maxBoxes = 100_000

var errTooManyBoxes = fmt.Errorf("more than %d boxes", maxBoxes)

// join is errs on one line, for a log: nil when there are none.
func join(errs []error) error {
	if len(errs) == 0 {
		return nil
	}
	args := make([]any, len(errs))
	for i, e := range errs {
		args[i] = e
	}
	return fmt.Errorf(strings.Repeat("; %w", len(errs))[2:], args...)
}

// maxErrors bounds what a hostile moov can make Read report.
const maxErrors = 8

func (p *parser) fail(err error) {
	if len(p.errs) < maxErrors {
		p.errs = append(p.errs, err)
	}
}

const stsdPath = "moov/trak/mdia/minf/stbl/stsd"

// handle is go-mp4's callback for each box. It descends only into the
// containers on the way to the boxes it reads, so the depth of the walk
// is bounded whatever the moov holds, and it reads the payloads of only
// mvhd, mehd, tkhd and hdlr: not the sample tables.
func (p *parser) handle(h *mp4.ReadHandle) (any, error) {
	bi := h.BoxInfo
	path := pathOf(h.Path)
	if p.boxes++; p.boxes > maxBoxes {
		return nil, errTooManyBoxes
	}
	if bi.Size < bi.HeaderSize {
		return nil, fmt.Errorf("%s declares %d bytes, less than its header", path, bi.Size)
	}
	switch path {
	case "moov", "moov/mvex", "moov/trak/mdia", "moov/trak/mdia/minf", "moov/trak/mdia/minf/stbl", stsdPath:
		_, err := h.Expand()
		return nil, err
	case "moov/trak":
		p.traks++
		p.cur = &track{}
		_, err := h.Expand()
		if t, v := p.cur, p.m.video; t.handler == "vide" && (v == nil || t.enabled && !v.enabled) {
			p.m.video = t
		}
		p.cur = nil
		if errors.Is(err, errTooManyBoxes) {
			return nil, err
		} else if err != nil {
			p.fail(fmt.Errorf("trak %d: %w", p.traks, err)) // the other tracks may be fine
		}
		return nil, nil
	case "moov/cmov":
		p.fail(errors.New("a compressed movie (cmov), which is not read"))
		return nil, nil
	}
	if len(h.Path) == 7 && strings.HasPrefix(path, stsdPath+"/") {
		if n := uint64(len(p.buf)); bi.Size > n || bi.Offset > n-bi.Size {
			return nil, fmt.Errorf("%s runs past the end of the moov", path)
		}
		if t := p.cur; t != nil && t.entry == nil {
			t.entry = p.sampleEntry(bi.Type, p.buf[bi.Offset+bi.HeaderSize:bi.Offset+bi.Size])
		}
		return nil, nil
	}
	var want bool
	switch path {
	case "moov/mvhd", "moov/mvex/mehd", "moov/trak/tkhd", "moov/trak/mdia/hdlr":
		want = true
	}
	if !want {
		return nil, nil
	}
	box, _, err := h.ReadPayload()
	if err != nil {
		p.fail(fmt.Errorf("%s: %w", path, err))
		return nil, nil
	}
	switch b := box.(type) {
	case *mp4.Mvhd:
		if !p.m.mvhd {
			p.m.mvhd, p.m.timescale = true, b.Timescale
			p.m.duration = duration(b.GetVersion(), b.DurationV0, b.DurationV1)
		}
	case *mp4.Mehd:
		p.m.fragments = duration(b.GetVersion(), b.FragmentDurationV0, b.FragmentDurationV1)
	case *mp4.Tkhd:
		if t := p.cur; t != nil && !t.tkhd {
			t.tkhd, t.enabled = true, b.GetFlags()&1 != 0
			t.duration = duration(b.GetVersion(), b.DurationV0, b.DurationV1)
			t.width, t.height = b.Width, b.Height
			a, bb, c, d := b.Matrix[0], b.Matrix[1], b.Matrix[3], b.Matrix[4]
			t.rotated = a == 0 && d == 0 && bb != 0 && c != 0
		}
	case *mp4.Hdlr:
		if t := p.cur; t != nil && t.handler == "" {
			t.handler = string(b.HandlerType[:])
		}
	}
	return nil, nil
}

// duration is a version 0 (32-bit) or 1 (64-bit) duration, all ones
// of either width becoming unknownDuration.
func duration(version uint8, v0 uint32, v1 uint64) uint64 {
	if version == 0 {
		if v0 == math.MaxUint32 {
			return unknownDuration
		}
		return uint64(v0)
	}
	return v1
}

func pathOf(path mp4.BoxPath) string {
	var b strings.Builder
	for i, t := range path {
		if i > 0 {
			b.WriteByte('/')
		}
		b.Write(t[:])
	}
	return b.String()
}

// visualEntryLen is the length of the fields of a VisualSampleEntry
// (ISO/IEC 14496-12 12.1.3) and of a QuickTime video sample description,
// which share their layout, before their child boxes.
const visualEntryLen = 78

// sampleEntry reads a sample entry of type typ from its payload: the
// coded size of a visual entry, and the codec from its configuration box.
// The fixed fields are read here rather than by go-mp4, which knows only
// some entry types (not avc3, say), while the child boxes it knows.
func (p *parser) sampleEntry(typ mp4.BoxType, payload []byte) *sampleEntry {
	e := &sampleEntry{codec: fourCC(typ)}
	if len(payload) < visualEntryLen {
		return e
	}
	e.width = uint16(payload[24])<<8 | uint16(payload[25])
	e.height = uint16(payload[26])<<8 | uint16(payload[27])
	format := typ
	var config mp4.IBox
	// Errors are not reported: without a configuration the codec is the
	// four-character code, which is what the entry says, and some writers
	// leave trailing bytes that are not boxes (QuickTime's 4 zero bytes).
	_, _ = mp4.ReadBoxStructure(bytes.NewReader(payload[visualEntryLen:]), func(h *mp4.ReadHandle) (any, error) {
		bi := h.BoxInfo
		if p.boxes++; p.boxes > maxBoxes {
			return nil, errTooManyBoxes
		}
		if bi.Size < bi.HeaderSize {
			return nil, errors.New("a box smaller than its header")
		}
		switch pathOf(h.Path) {
		case "sinf": // protection scheme information of an encv entry
			return h.Expand()
		case "sinf/frma":
			if b, _, err := h.ReadPayload(); err == nil {
				if frma, ok := b.(*mp4.Frma); ok {
					format = frma.DataFormat
				}
			}
		case "avcC", "hvcC", "av1C", "vpcC":
			if b, _, err := h.ReadPayload(); err == nil && config == nil {
				config = b
			}
		}
		return nil, nil
	})
	e.codec = codecString(format, config)
	return e
}

// codecString is the RFC 6381 codecs parameter of a sample entry of
// format with the configuration config, or format's four-character code
// when config does not give one.
func codecString(format mp4.BoxType, config mp4.IBox) string {
	code := fourCC(format)
	switch c := config.(type) {
	case *mp4.AVCDecoderConfiguration:
		// ISO/IEC 14496-15 E.2 (RFC 6381 3.3): profile_idc,
		// constraint_set flags and level_idc of the SPS, in hex.
		if strings.HasPrefix(code, "avc") {
			return fmt.Sprintf("%s.%02X%02X%02X", code, c.Profile, c.ProfileCompatibility, c.Level)
		}
	case *mp4.HvcC:
		if code == "hvc1" || code == "hev1" {
			return hevcString(code, c)
		}
	case *mp4.Av1C:
		// AV1 Codec ISO Media File Format Binding, "Codecs Parameter
		// String": av01.profile.levelTier.bitDepth.
		if code == "av01" {
			tier, depth := 'M', 8
			if c.SeqTier0 != 0 {
				tier = 'H'
			}
			if c.HighBitdepth != 0 {
				depth = 10
				if c.TwelveBit != 0 {
					depth = 12
				}
			}
			return fmt.Sprintf("av01.%d.%02d%c.%02d", c.SeqProfile, c.SeqLevelIdx0, tier, depth)
		}
	case *mp4.VpcC:
		// VP Codec ISO Media File Format Binding, "Codecs Parameter
		// String": vp09.profile.level.bitDepth, two digits each.
		if code == "vp09" || code == "vp08" {
			return fmt.Sprintf("%s.%02d.%02d.%02d", code, c.Profile, c.Level, c.BitDepth)
		}
	}
	return code
}

// hevcString is the codecs parameter of ISO/IEC 14496-15 E.3: the
// profile (prefixed by its space, A–C, when not 0), the compatibility
// flags in reverse bit order in hex, the tier (L or H) and level, and the
// constraint indicator bytes in hex with trailing zero bytes left out.
func hevcString(code string, c *mp4.HvcC) string {
	var b strings.Builder
	b.WriteString(code)
	b.WriteByte('.')
	if c.GeneralProfileSpace > 0 {
		b.WriteByte('A' + c.GeneralProfileSpace - 1)
	}
	var compat uint32
	for i, set := range c.GeneralProfileCompatibility {
		if set {
			compat |= 1 << i
		}
	}
	tier := 'L'
	if c.GeneralTierFlag {
		tier = 'H'
	}
	fmt.Fprintf(&b, "%d.%X.%c%d", c.GeneralProfileIdc, compat, tier, c.GeneralLevelIdc)
	cons := c.GeneralConstraintIndicator[:]
	for len(cons) > 0 && cons[len(cons)-1] == 0 {
		cons = cons[:len(cons)-1]
	}
	for _, v := range cons {
		fmt.Fprintf(&b, ".%X", v)
	}
	return b.String()
}

// fourCC is typ as text, without the trailing spaces some codes are
// padded with; "" unless it is printable ASCII.
func fourCC(typ mp4.BoxType) string {
	for _, c := range typ {
		if c < 0x20 || c > 0x7E {
			return ""
		}
	}
	return strings.TrimRight(string(typ[:]), " ")
}

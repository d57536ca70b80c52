package transfer

import (
	"bytes"
	"mime"
	"net/http"
	"strings"

	"github.com/wochit-ingest/wochit-ingest/contract"
	"github.com/wochit-ingest/wochit-ingest/internal/failure"
)

// allowedTypes are the media types each kind of file may have, whether the
// origin declares them or they are recognised from the first bytes.
var allowedTypes = map[contract.AssetKind]map[string]bool{
	contract.KindVideo: {
		"video/mp4": true, "video/quicktime": true, "video/webm": true, "video/x-matroska": true,
		"video/x-m4v": true, "video/3gpp": true, "video/mpeg": true, "video/mp2t": true, "video/x-msvideo": true,
	},
	contract.KindThumbnail: {"image/jpeg": true, "image/png": true, "image/webp": true, "image/gif": true},
}

// genericTypes say nothing about the content; object stores (S3's default
// binary/octet-stream) serve media with them all the time, so they are
// accepted and the sniffed type is stored instead.
var genericTypes = map[string]bool{"": true, "application/octet-stream": true, "binary/octet-stream": true, "application/binary": true}

// sniffLen is how many leading bytes contentTypeOf looks at.
const sniffLen = 512

// contentTypeOf decides the stored content type from the declared header and
// the first bytes, or returns an UnsupportedContentType error: the header,
// when specific, must be an allowed type for the kind, and the bytes must look
// like an allowed type whatever the header says (an HTML error page served
// with 200 and "video/mp4" is still an HTML page). An HTML page, whatever it
// is declared as, is more likely a CDN's error or maintenance page than the
// file: it fails retryably, and the transfer counts it (settle), calling the
// content type wrong on its third.
func contentTypeOf(kind contract.AssetKind, header string, head []byte) (string, error) {
	if sniff(head) == "" && strings.HasPrefix(http.DetectContentType(head), "text/html") {
		page := failure.Retryable(contract.OriginMisbehaved, nil, "the origin served an HTML page (declared %.100q) instead of the %s", header, kind)
		page.Tally = htmlPage
		return "", page
	}
	declared := ""
	if header != "" {
		mt, _, err := mime.ParseMediaType(header)
		if err != nil {
			return "", failure.Permanent(contract.UnsupportedContentType, nil, "unparseable Content-Type %q", header)
		}
		declared = strings.ToLower(mt)
	}
	if !genericTypes[declared] && !allowedTypes[kind][declared] {
		return "", failure.Permanent(contract.UnsupportedContentType, nil, "the origin serves %s, which is not an accepted %s type", declared, kind)
	}
	sniffed := sniff(head)
	if !allowedTypes[kind][sniffed] {
		what := sniffed
		if what == "" {
			what = "unrecognised data"
		}
		return "", failure.Permanent(contract.UnsupportedContentType, nil, "the %s's first bytes are %s, not an accepted %s format", kind, what, kind)
	}
	if genericTypes[declared] {
		return sniffed, nil
	}
	return declared, nil
}

// sniff recognises the container formats videos and thumbnails come in from
// their signatures; "" when none matches.
func sniff(b []byte) string {
	switch {
	case len(b) >= 12 && string(b[4:8]) == "ftyp":
		switch brand := string(b[8:12]); {
		case brand == "qt  ":
			return "video/quicktime"
		case strings.HasPrefix(brand, "3g"):
			return "video/3gpp"
		case brand == "M4V " || brand == "M4VH" || brand == "M4VP":
			return "video/x-m4v"
		default:
			return "video/mp4"
		}
	case len(b) >= 8 && isQuickTimeAtom(string(b[4:8])):
		return "video/quicktime"
	case bytes.HasPrefix(b, []byte{0x1A, 0x45, 0xDF, 0xA3}):
		if bytes.Contains(b[:min(len(b), 64)], []byte("webm")) {
			return "video/webm"
		}
		return "video/x-matroska"
	case len(b) >= 12 && string(b[:4]) == "RIFF" && string(b[8:12]) == "AVI ":
		return "video/x-msvideo"
	case len(b) >= 12 && string(b[:4]) == "RIFF" && string(b[8:12]) == "WEBP":
		return "image/webp"
	case len(b) > 188 && b[0] == 0x47 && b[188] == 0x47:
		return "video/mp2t"
	case bytes.HasPrefix(b, []byte{0, 0, 1, 0xBA}):
		return "video/mpeg"
	case bytes.HasPrefix(b, []byte{0xFF, 0xD8, 0xFF}):
		return "image/jpeg"
	case bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")):
		return "image/png"
	case bytes.HasPrefix(b, []byte("GIF87a")) || bytes.HasPrefix(b, []byte("GIF89a")):
		return "image/gif"
	}
	return ""
}

// isQuickTimeAtom reports older QuickTime files that start with another atom
// than "ftyp".
func isQuickTimeAtom(name string) bool {
	switch name {
	case "moov", "mdat", "wide", "free", "skip", "pnot":
		return true
	}
	return false
}

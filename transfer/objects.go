package transfer

import (
	"crypto/sha256"
	"encoding/hex"
	"mime"
	"path"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/wochit-ingest/wochit-ingest/contract"

	"github.com/wochit-ingest/wochit-ingest/internal/crc32c"

	"cloud.google.com/go/storage"
)

// Custom metadata keys written on every object, so an object can be traced
// back to its notification and an earlier attempt's object recognised as ours.
const (
	metaWochitVideoID = "wochitVideoId"
	metaVideoContext  = "videoContext"
	metaSourceURL     = "sourceUrl"
	metaSourceETag    = "sourceEtag"
	metaKind          = "kind"
	metaSize          = "size"
	metaCRC32C        = "crc32c"
	metaMD5           = "md5"
	metaMedia         = "media" // a video's contract.Media as JSON (media.go)
)

// Custom metadata of one object must stay inside GCS's 8 KiB (the dev
// emulator keeps it in a file's extended attributes, about 4 KiB). Free
// text (videoContext) and what the origin decides (the URL path, its ETag)
// are fitted to these many bytes; the full videoContext is in the workflow
// memo and the callback.
const (
	maxMetadataText      = 768
	maxMetadataValidator = 256
)

// fitMetadata makes s an object metadata value of at most n bytes: control
// characters become U+FFFD, and a longer value keeps a prefix and a hash of
// the whole, so two long values that differ only near the end still differ.
func fitMetadata(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return utf8.RuneError
		}
		return r
	}, strings.ToValidUTF8(s, "\uFFFD"))
	if len(s) <= n {
		return s
	}
	sum := sha256.Sum256([]byte(s))
	suffix := "…sha256:" + hex.EncodeToString(sum[:8])
	return truncate(s, n-len(suffix)) + suffix
}

// sameSource reports whether an object's sourceUrl metadata names this
// transfer's source: as it is recorded now (redact.URL), or as
// versions before path tokens were redacted recorded it (without query,
// fragment and userinfo only), so that an attempt retried across an upgrade
// finds its object rather than an ObjectConflict.
func (c *copier) sameSource(recorded string) bool {
	if recorded == fitMetadata(c.source, maxMetadataText) {
		return true
	}
	legacy := *c.srcURL
	legacy.User, legacy.RawQuery, legacy.ForceQuery, legacy.Fragment, legacy.RawFragment = nil, "", false, "", ""
	return recorded == fitMetadata(legacy.String(), maxMetadataText)
}

// ObjectDir is the "folder" holding both files of one video:
// <prefix><wochitVideoId>/.
func ObjectDir(prefix, wochitVideoID string) string {
	return prefix + wochitVideoID + "/"
}

func (c *copier) objectDir() string { return ObjectDir(c.dst.Prefix, c.dst.WochitVideoID) }

// objectName is deterministic for a notification: the extension comes from
// the URL path when it is a known media extension, otherwise from the
// response's content type, otherwise there is none.
func (c *copier) objectName(contentType string) string {
	return c.objectDir() + string(c.dst.Kind) + extension(c.dst.Kind, c.srcURL.Path, contentType)
}

var knownExtensions = map[contract.AssetKind][]string{
	contract.KindVideo:     {".mp4", ".m4v", ".mov", ".webm", ".mkv", ".avi", ".mpg", ".mpeg", ".ts", ".3gp"},
	contract.KindThumbnail: {".jpg", ".jpeg", ".png", ".webp", ".gif"},
}

var extensionByType = map[string]string{
	"video/mp4": ".mp4", "video/quicktime": ".mov", "video/webm": ".webm", "video/x-matroska": ".mkv",
	"video/x-msvideo": ".avi", "video/mpeg": ".mpg", "video/mp2t": ".ts", "video/3gpp": ".3gp",
	"image/jpeg": ".jpg", "image/png": ".png", "image/webp": ".webp", "image/gif": ".gif",
}

func extension(kind contract.AssetKind, sourcePath, contentType string) string {
	if ext := pathExtension(kind, sourcePath); ext != "" {
		return ext
	}
	if mt, _, err := mime.ParseMediaType(contentType); err == nil {
		return extensionByType[mt]
	}
	return ""
}

// pathExtension is the URL path's extension if it is a known media
// extension for kind; then the object name does not depend on the response.
func pathExtension(kind contract.AssetKind, sourcePath string) string {
	ext := strings.ToLower(path.Ext(sourcePath))
	for _, known := range knownExtensions[kind] {
		if ext == known {
			return ext
		}
	}
	return ""
}

// isOurObjectName reports whether name is "<dir><kind>" or "<dir><kind>.<ext>".
func isOurObjectName(name, dir string, kind contract.AssetKind) bool {
	rest, ok := strings.CutPrefix(name, dir+string(kind))
	return ok && (rest == "" || (strings.HasPrefix(rest, ".") && !strings.ContainsAny(rest, "/")))
}

func storedObject(attrs *storage.ObjectAttrs) contract.StoredObject {
	o := contract.StoredObject{
		Bucket:      attrs.Bucket,
		Name:        attrs.Name,
		URI:         "gs://" + attrs.Bucket + "/" + attrs.Name,
		Size:        attrs.Size,
		ContentType: attrs.ContentType,
		CRC32C:      crc32c.Encode(attrs.CRC32C),
	}
	// The MD5 recorded with the verified mark is reported: ours, or GCS's
	// own for an object it wrote in one piece. Composite objects (files
	// copied in parts) have none.
	o.MD5 = attrs.Metadata[metaMD5]
	o.Media = recordedMedia(attrs.Metadata) // Copy reports it, or reads it (media.go)
	return o
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	// Cut on a rune boundary so the value stays valid UTF-8.
	for n > 0 && !utf8RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

func utf8RuneStart(b byte) bool { return b&0xC0 != 0x80 }

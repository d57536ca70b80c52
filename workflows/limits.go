package workflows

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Temporal refuses, or terminates a run for, values beyond these limits, and
// every free-text field of a notification can reach them: a videoContext of
// 2048 emoji is 8 KiB of UTF-8, and 2048 '<' are 12 KiB of JSON. Every
// value derived from the notification that goes into a search attribute, a
// summary or the current details is fitted to them first.
const (
	// MaxKeywordRunes is what a Keyword search attribute may hold on every
	// visibility store: SQL stores keep custom Keywords in VARCHAR(255)
	// columns (PostgreSQL refuses longer values), and 255 characters of at
	// most 6 JSON bytes each stay inside the frontend's 2048-byte limit per
	// value (frontend.searchAttributesSizeOfValueLimit).
	MaxKeywordRunes = 255
	// MaxSearchAttributeValueBytes is the frontend's limit per value, on the
	// JSON encoding.
	MaxSearchAttributeValueBytes = 2048
	// MaxSummaryBytes keeps a summary payload inside
	// limit.userMetadataSummarySize (400 bytes) even encrypted, with a
	// margin of 20 bytes: the codec adds a nonce, a tag, the inner
	// payload's metadata and a key id of up to 64 bytes, 175 bytes in all,
	// so the widest summary is 375 bytes (TestEncryptedSummaryFitsTheSummaryLimit
	// holds it under 380).
	MaxSummaryBytes = 200
	// MaxDetailsBytes keeps the current details well inside
	// limit.userMetadataDetailsSize (20000 bytes).
	MaxDetailsBytes = 8000
)

// keywordPrefixRunes is how much of a long value its Keyword keeps before
// the digest; with "…sha256:" and 16 hex digits it stays under
// MaxKeywordRunes.
const keywordPrefixRunes = 200

// SearchKeyword is the Keyword search attribute value for free text (the
// videoContext). Control characters become U+FFFD (PostgreSQL's JSON cannot
// hold NUL). A value of at most MaxKeywordRunes characters is kept as is, so
// `VideoContext = "user-42"` finds it; a longer one keeps its first 200
// characters, then "…sha256:" and the first 16 hex digits of the SHA-256 of
// the whole original value, so it stays distinct and can still be searched
// for exactly. The memo keeps the full value.
func SearchKeyword(s string) string {
	clean := strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return utf8.RuneError
		}
		return r
	}, s)
	if utf8.RuneCountInString(clean) <= MaxKeywordRunes {
		return clean
	}
	sum := sha256.Sum256([]byte(s))
	return string([]rune(clean)[:keywordPrefixRunes]) + "…sha256:" + hex.EncodeToString(sum[:8])
}

// FitJSON shortens s, on a character boundary and marked with "…", until
// its JSON encoding takes at most maxBytes: what Temporal measures.
func FitJSON(s string, maxBytes int) string {
	if jsonLen(s) <= maxBytes {
		return s
	}
	r := []rune(s)
	// Binary search the longest prefix that fits with the ellipsis.
	lo, hi := 0, len(r)
	for lo < hi {
		mid := (lo + hi + 1) / 2
		if jsonLen(string(r[:mid])+"…") <= maxBytes {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	return string(r[:lo]) + "…"
}

// jsonLen is len(json.Marshal(s)), counted without encoding/json (whose
// reflection workflowcheck cannot prove deterministic): HTML-sensitive
// characters, control characters, U+2028/U+2029 and invalid bytes take 6
// bytes (\u003c), quotes, backslashes and \b \f \n \r \t take 2.
func jsonLen(s string) int {
	n := 2 // the quotes
	for i := 0; i < len(s); {
		b := s[i]
		if b < utf8.RuneSelf {
			switch {
			case b == '"' || b == '\\' || b == '\b' || b == '\f' || b == '\n' || b == '\r' || b == '\t':
				n += 2
			case b < 0x20 || b == '<' || b == '>' || b == '&':
				n += 6
			default:
				n++
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && size == 1) || r == '\u2028' || r == '\u2029' {
			n += 6
		} else {
			n += size
		}
		i += size
	}
	return n
}

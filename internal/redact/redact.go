// Package redact removes the secrets a URL can carry before the URL reaches a
// log line, object metadata, a trace or a failure message: userinfo, the
// query string and fragment (signed-URL signatures and tokens), and path
// segments that hold a token.
//
// A path segment is replaced by "REDACTED" (keeping a short file extension:
// "REDACTED.mp4") when, percent-decoded, it
//
//   - holds a key=value pair: Akamai's exp=…~acl=…~hmac=…, Bunny's
//     bcdn_token=…, Media CDN's edge-cache-token=…, ;jsessionid=…;
//   - follows a segment that names a token (token, auth, sig, signature,
//     hmac, secret, key, hash, access_token, __token__) or the ingress's
//     webhooks/wochit (its token route);
//   - contains a high-entropy run of 16 or more characters of the token
//     alphabet (letters, digits, - _ +): hex (a digest, a UUID, an id), or
//     a run whose adjacent characters change class (digit, lower case, upper
//     case; not a capitalised word's first letter) at least once per 6
//     characters, as random tokens, JWT parts and base64 do and words,
//     slugs and dates do not, or one with 24 letters in a row (16 with
//     fewer than 30% vowels), which no word in a path has.
//
// The rule errs towards redacting: a false positive costs a log reader a
// path segment, a false negative leaks a credential. It is a pure function
// of the URL (objects record the redacted source URL and compare it on the
// next attempt) and redacting twice changes nothing.
package redact

import (
	"net/url"
	"path"
	"regexp"
	"strings"
)

// Placeholder replaces a secret path segment.
const Placeholder = "REDACTED"

// URL returns raw without userinfo, query, fragment or secret path
// segments; "(unparseable URL)" when it cannot be parsed.
func URL(raw string) string {
	out, host, ok := once(raw)
	// net/url does not read back everything it writes (an empty host with
	// userinfo, a zone with a non-UTF-8 byte). Such a URL is not quoted at
	// all, so that redacting a redacted URL never changes it and a path
	// never turns into a host.
	if again, againHost, _ := once(out); !ok || again != out || againHost != host {
		return unparseable
	}
	return out
}

const unparseable = "(unparseable URL)"

func once(raw string) (out, host string, ok bool) {
	u, err := url.Parse(raw)
	if err != nil {
		return unparseable, "", false
	}
	host = u.Host
	u.User, u.RawQuery, u.ForceQuery, u.Fragment, u.RawFragment = nil, "", false, "", ""
	if u.Opaque != "" {
		u.Opaque = Path(u.Opaque)
	} else if escaped := u.EscapedPath(); escaped != "" {
		p := Path(escaped)
		if unescaped, err := url.PathUnescape(p); err == nil {
			u.Path, u.RawPath = unescaped, p
		} else {
			u.Path, u.RawPath = p, ""
		}
	}
	return u.String(), host, true
}

var urlInText = regexp.MustCompile(`(?i)\bhttps?://[^\s"'<>]+`)

// URLs applies URL to every http(s) URL quoted in text.
func URLs(text string) string {
	if !strings.Contains(text, "://") {
		return text
	}
	return urlInText.ReplaceAllStringFunc(text, URL)
}

var uploadIDInText = regexp.MustCompile(`(?i)\b(upload_?id=)[^&\s"'<>]+`)

// Text removes the secrets of free text (a log line, a failure message, a
// span attribute): every http(s) URL quoted in it goes through URL, and the
// upload_id of a resumable upload session — which storage errors print with
// the session URI (url.Error) and which lets anyone holding it write to the
// upload for a week — becomes upload_id=REDACTED wherever it stands.
func Text(text string) string {
	if !strings.Contains(text, "=") {
		return URLs(text)
	}
	return uploadIDInText.ReplaceAllString(URLs(text), "${1}"+Placeholder)
}

// Path redacts the secret segments of an escaped URL path.
func Path(escaped string) string {
	segs := strings.Split(escaped, "/")
	decoded := make([]string, len(segs))
	for i, s := range segs {
		d, err := url.PathUnescape(s)
		if err != nil {
			d = s
		}
		decoded[i] = d
	}
	for i, d := range decoded {
		if d == "" || !secret(d, decoded[:i]) {
			continue
		}
		segs[i] = Placeholder + extension(d)
	}
	return strings.Join(segs, "/")
}

// tokenNames are path segments after which the next one is a credential.
var tokenNames = map[string]bool{
	"token": true, "tokens": true, "auth": true, "sig": true, "signature": true, "hmac": true,
	"secret": true, "key": true, "hash": true, "access_token": true, "__token__": true,
}

// secret judges one decoded segment, given the decoded segments before it.
func secret(seg string, before []string) bool {
	if strings.Contains(seg, "=") {
		return true
	}
	if n := len(before); n > 0 {
		prev := strings.ToLower(before[n-1])
		if tokenNames[prev] || (prev == "wochit" && n > 1 && strings.EqualFold(before[n-2], "webhooks")) {
			return true
		}
	}
	for _, run := range tokenRuns(seg) {
		if highEntropy(run) {
			return true
		}
		// A token that uses - or _ as characters, next to words that
		// dilute it (prefix-<token>): judge its pieces too.
		for _, piece := range strings.FieldsFunc(run, isSeparator) {
			if piece != run && highEntropy(piece) {
				return true
			}
		}
	}
	return false
}

// tokenRuns splits s into maximal runs of the token alphabet.
func tokenRuns(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return classOf(r) == other })
}

type class int

const (
	other class = iota
	separator
	digit
	lower
	upper
)

func classOf(r rune) class {
	switch {
	case r >= '0' && r <= '9':
		return digit
	case r >= 'a' && r <= 'z':
		return lower
	case r >= 'A' && r <= 'Z':
		return upper
	case r == '-' || r == '_' || r == '+':
		return separator
	}
	return other
}

func isSeparator(r rune) bool { return classOf(r) == separator }

const minSecretLen = 16

// highEntropy reports whether a run of the token alphabet looks random:
// its class changes between adjacent letters and digits (lower↔upper,
// letter↔digit; a capitalised word's first letter does not count) are at
// least one per 6 characters, it has long runs of letters no word has, or
// it is hex.
func highEntropy(run string) bool {
	if len(run) < minSecretLen {
		return false
	}
	changes, letters, vowels := 0, 0, 0
	prev, prevLen := separator, 0
	for _, r := range run {
		c := classOf(r)
		if c == lower || c == upper {
			letters++
			if strings.ContainsRune("aeiouyAEIOUY", r) {
				vowels++
			}
		} else {
			if lettersRandom(letters, vowels) {
				return true
			}
			letters, vowels = 0, 0
		}
		switch {
		case c == separator:
			prev, prevLen = separator, 0
			continue
		case c == prev, prev == separator, c == lower && prev == upper && prevLen == 1:
			prevLen++
		default:
			changes++
			prevLen = 1
		}
		prev = c
	}
	return changes*6 >= len(run) || lettersRandom(letters, vowels) || isHex(run)
}

// isHex: hex digits (a digest, an id; - and _ between groups, as in a UUID)
// with at least one digit and one letter, 16 or more of them.
func isHex(run string) bool {
	n, digits := 0, 0
	for _, r := range run {
		switch c := classOf(r); {
		case c == separator:
			continue
		case c == digit:
			digits++
		case !strings.ContainsRune("abcdefABCDEF", r):
			return false
		}
		n++
	}
	return n >= minSecretLen && digits > 0 && digits < n
}

// lettersRandom: 24 or more letters in a row, or 16 or more with fewer than
// 30% vowels, are not a word (English has about 40%, random letters 23%).
func lettersRandom(letters, vowels int) bool {
	return letters >= 24 || (letters >= minSecretLen && vowels*10 < letters*3)
}

// extension keeps a short alphanumeric file extension of a redacted
// segment (".mp4"), which says what the file was and cannot hold a secret.
func extension(seg string) string {
	ext := path.Ext(seg)
	if len(ext) < 2 || len(ext) > 6 || ext == seg {
		return ""
	}
	for _, r := range ext[1:] {
		if c := classOf(r); c != digit && c != lower && c != upper {
			return ""
		}
	}
	return ext
}

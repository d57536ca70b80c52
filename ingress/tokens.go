package ingress

import (
	"crypto/sha256"
	"crypto/subtle"
	"log/slog"
	"net/http"
	"strings"
)

// Token is a shared secret a sender presents in the webhook path
// (/webhooks/wochit/<token>) or as "Authorization: Bearer <token>". Its
// String, GoString and LogValue are redacted so that printing a Config never
// reveals one.
type Token string

func (Token) String() string            { return "[redacted]" }
func (Token) GoString() string          { return `"[redacted]"` }
func (Token) LogValue() slog.Value      { return slog.StringValue("[redacted]") }
func (t Token) hash() [sha256.Size]byte { return sha256.Sum256([]byte(t)) }

// tokens checks presented tokens against the configured ones. Only SHA-256
// hashes are kept, and every configured hash is compared in constant time,
// so neither the length nor the content of a secret leaks through timing.
// Several tokens may be valid at once, for rotation.
type tokens struct {
	hashes [][sha256.Size]byte
}

func newTokens(ts []Token) tokens {
	var t tokens
	for _, tok := range ts {
		t.hashes = append(t.hashes, tok.hash())
	}
	return t
}

func (t tokens) required() bool { return len(t.hashes) > 0 }

// valid reports whether presented is one of the tokens. Every hash is
// compared, whatever matched, so timing does not say which one did.
func (t tokens) valid(presented string) bool {
	h := sha256.Sum256([]byte(presented))
	match := 0
	for _, want := range t.hashes {
		match |= subtle.ConstantTimeCompare(h[:], want[:])
	}
	return match == 1 && presented != ""
}

// authorized decides a request. pathToken is the {token} path segment, or
// "" on the bare route. A token in the path must be valid, even when none is
// required: /webhooks/wochit/<anything> must not work as an alias of the bare
// route. Otherwise, when tokens are required, the Bearer token must be valid.
func (t tokens) authorized(r *http.Request, pathToken string, hasPathToken bool) bool {
	if hasPathToken {
		return t.valid(pathToken)
	}
	if !t.required() {
		return true
	}
	bearer, ok := bearerToken(r.Header.Get("Authorization"))
	return ok && t.valid(bearer)
}

func bearerToken(h string) (string, bool) {
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

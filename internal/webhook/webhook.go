// Package webhook signs and verifies HTTP callbacks the way the Standard Webhooks
// specification (https://www.standardwebhooks.com) describes: headers webhook-id,
// webhook-timestamp and webhook-signature, where the signature is
// "v1,<base64 HMAC-SHA256 of id.timestamp.body>" and several signatures are
// space-separated so a receiver can rotate its secret without downtime.
package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Header names defined by the Standard Webhooks specification.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// DefaultTolerance is how far a receiver lets webhook-timestamp drift from its
// own clock before it rejects a delivery as a possible replay.
const DefaultTolerance = 5 * time.Minute

const secretPrefix = "whsec_"

// Secret is a decoded signing key.
type Secret []byte

// ParseSecret decodes a secret in the "whsec_<base64>" form used by Standard
// Webhooks libraries. The key must be between 24 and 64 bytes, as the
// specification recommends.
func ParseSecret(s string) (Secret, error) {
	encoded, ok := strings.CutPrefix(strings.TrimSpace(s), secretPrefix)
	if !ok {
		return nil, errors.New(`secret must start with "whsec_"`)
	}
	key, err := base64.StdEncoding.DecodeString(encoded)
	if err != nil {
		return nil, fmt.Errorf("secret is not valid base64 after \"whsec_\": %w", err)
	}
	if len(key) < 24 || len(key) > 64 {
		return nil, fmt.Errorf("secret decodes to %d bytes; want 24 to 64", len(key))
	}
	return Secret(key), nil
}

// ParseSecrets parses a list of secrets separated by spaces or commas.
// The first secret is the current one; the others are kept during rotation.
func ParseSecrets(list string) ([]Secret, error) {
	fields := strings.FieldsFunc(list, func(r rune) bool { return r == ',' || r == ' ' })
	if len(fields) == 0 {
		return nil, errors.New("no secret given")
	}
	secrets := make([]Secret, 0, len(fields))
	for i, f := range fields {
		s, err := ParseSecret(f)
		if err != nil {
			return nil, fmt.Errorf("secret #%d: %w", i+1, err)
		}
		secrets = append(secrets, s)
	}
	return secrets, nil
}

// Encode renders the secret in whsec_ form, for storing it.
func (s Secret) Encode() string { return secretPrefix + base64.StdEncoding.EncodeToString(s) }

// String keeps a secret printed by mistake (%v, a log attribute) out of
// logs; use Encode to store it.
func (s Secret) String() string { return secretPrefix + "(redacted)" }

// sign returns the base64 HMAC-SHA256 of "id.timestamp.body".
func (s Secret) sign(id string, timestamp int64, body []byte) string {
	mac := hmac.New(sha256.New, s)
	mac.Write([]byte(id))
	mac.Write([]byte{'.'})
	mac.Write([]byte(strconv.FormatInt(timestamp, 10)))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// Signer produces webhook-signature values with every configured secret.
type Signer struct {
	secrets []Secret
}

// NewSigner returns a signer for the given secrets; it needs at least one.
func NewSigner(secrets ...Secret) (*Signer, error) {
	if len(secrets) == 0 {
		return nil, errors.New("webhook signer needs at least one secret")
	}
	return &Signer{secrets: secrets}, nil
}

// Signature returns the webhook-signature header value for one attempt.
func (s *Signer) Signature(id string, timestamp time.Time, body []byte) string {
	sigs := make([]string, len(s.secrets))
	for i, secret := range s.secrets {
		sigs[i] = "v1," + secret.sign(id, timestamp.Unix(), body)
	}
	return strings.Join(sigs, " ")
}

// SetHeaders sets the three Standard Webhooks headers on h.
func (s *Signer) SetHeaders(h http.Header, id string, timestamp time.Time, body []byte) {
	h.Set(HeaderID, id)
	h.Set(HeaderTimestamp, strconv.FormatInt(timestamp.Unix(), 10))
	h.Set(HeaderSignature, s.Signature(id, timestamp, body))
}

// Verification errors.
var (
	ErrMissingHeaders   = errors.New("missing webhook-id, webhook-timestamp or webhook-signature header")
	ErrInvalidTimestamp = errors.New("webhook-timestamp is not a unix time")
	ErrTimestampSkew    = errors.New("webhook-timestamp is outside the tolerance")
	ErrNoMatch          = errors.New("no signature matches")
)

// Verify checks a delivery as a receiver would: the timestamp within tolerance
// of now, and at least one v1 signature matching one of the secrets.
func Verify(h http.Header, body []byte, now time.Time, tolerance time.Duration, secrets ...Secret) error {
	id, ts, sigs := h.Get(HeaderID), h.Get(HeaderTimestamp), h.Get(HeaderSignature)
	if id == "" || ts == "" || sigs == "" {
		return ErrMissingHeaders
	}
	unix, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return ErrInvalidTimestamp
	}
	if skew := now.Sub(time.Unix(unix, 0)); skew > tolerance || skew < -tolerance {
		return ErrTimestampSkew
	}
	for _, secret := range secrets {
		want := []byte(secret.sign(id, unix, body))
		for _, sig := range strings.Fields(sigs) {
			version, value, ok := strings.Cut(sig, ",")
			if ok && version == "v1" && hmac.Equal([]byte(value), want) {
				return nil
			}
		}
	}
	return ErrNoMatch
}

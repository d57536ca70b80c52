package payloadcodec

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
)

// EnvKeys is the environment variable the processes read the keyring from.
const EnvKeys = "PAYLOAD_KEYS"

// KeySize is the length of an AES-256 key in bytes.
const KeySize = 32

// maxKeyIDLen bounds a key id: it is stored in every payload's metadata.
const maxKeyIDLen = 64

// ErrNoKeys is returned by ParseKeyring for an empty keyring string.
var ErrNoKeys = errors.New("payloadcodec: no keys: want id:base64key[,id:base64key...]")

// Keyring holds the AES-256-GCM keys of the codec. Exactly one key
// encrypts; every key decrypts. A Keyring is immutable and safe for
// concurrent use.
//
// Its String, GoString and LogValue show the key ids only, never key bytes.
type Keyring struct {
	ids  []string // the encrypting key first, then the others in the configured order
	aead map[string]cipher.AEAD
}

type keyEntry struct {
	id          string
	key         []byte
	decryptOnly bool
}

// DecryptOnly marks a keyring entry whose key only decrypts:
// id:base64key:decrypt-only.
const DecryptOnly = "decrypt-only"

// ErrEncryptingKeys is returned by ParseKeyring when not exactly one key is
// left to encrypt.
var ErrEncryptingKeys = errors.New("payloadcodec: exactly one key must encrypt: mark every other key :" + DecryptOnly)

// ParseKeyring parses a comma-separated list of id:base64key entries, every
// one but the encrypting key marked :decrypt-only, for example the value of
// PAYLOAD_KEYS during a rotation:
//
//	2026-12:q0uY...=,2027-06:7bX1...=:decrypt-only
//
// Each key is 32 random bytes (AES-256) in base64 (standard or URL-safe
// alphabet, padding optional). Ids are 1-64 characters of A-Z a-z 0-9 . _ -
// and must be unique. Spaces around entries are ignored. Exactly one entry
// is not marked: it encrypts, whatever its position; every key decrypts.
// The mark is what makes a rotation two-phase (see the package doc): a new
// key is listed decrypt-only on every process before it encrypts anywhere,
// so no process meets a payload it cannot read. Errors name entries by
// position (and id, once it is known to be valid) and never contain key
// material.
func ParseKeyring(s string) (*Keyring, error) {
	if strings.TrimSpace(s) == "" {
		return nil, ErrNoKeys
	}
	parts := strings.Split(s, ",")
	entries := make([]keyEntry, 0, len(parts))
	seen := make(map[string]bool, len(parts))
	for i, part := range parts {
		n := i + 1
		part = strings.TrimSpace(part)
		if part == "" {
			return nil, fmt.Errorf("payloadcodec: keyring entry %d is empty (stray comma?)", n)
		}
		id, b64, ok := strings.Cut(part, ":")
		if !ok {
			// Do not echo the entry: it may well be a bare key.
			return nil, fmt.Errorf("payloadcodec: keyring entry %d has no ':' (want id:base64key)", n)
		}
		id, b64 = strings.TrimSpace(id), strings.TrimSpace(b64)
		b64, decryptOnly := strings.CutSuffix(b64, ":"+DecryptOnly)
		b64 = strings.TrimSpace(b64)
		if err := checkKeyID(id); err != nil {
			return nil, fmt.Errorf("payloadcodec: keyring entry %d: %w", n, err)
		}
		if seen[id] {
			return nil, fmt.Errorf("payloadcodec: keyring entry %d: duplicate key id %q", n, id)
		}
		seen[id] = true
		if b64 == "" {
			return nil, fmt.Errorf("payloadcodec: keyring entry %d (id %q): key is empty", n, id)
		}
		if strings.Contains(b64, ":") {
			return nil, fmt.Errorf("payloadcodec: keyring entry %d (id %q): the only mark after the key is :%s", n, id, DecryptOnly)
		}
		key, ok := decodeBase64(b64)
		if !ok {
			return nil, fmt.Errorf("payloadcodec: keyring entry %d (id %q): key is not valid base64", n, id)
		}
		if len(key) != KeySize {
			return nil, fmt.Errorf("payloadcodec: keyring entry %d (id %q): key is %d bytes, want %d (AES-256)", n, id, len(key), KeySize)
		}
		entries = append(entries, keyEntry{id: id, key: key, decryptOnly: decryptOnly})
	}
	var encrypting []string
	for _, e := range entries {
		if !e.decryptOnly {
			encrypting = append(encrypting, e.id)
		}
	}
	if len(encrypting) != 1 {
		return nil, fmt.Errorf("%w (%d of %d keys would encrypt: %v); a new key is listed decrypt-only on every process before it encrypts, see README, Encrypted histories",
			ErrEncryptingKeys, len(encrypting), len(entries), encrypting)
	}
	return newKeyring(entries)
}

// newKeyring builds the ring; the one entry not marked decrypt-only
// encrypts.
func newKeyring(entries []keyEntry) (*Keyring, error) {
	k := &Keyring{aead: make(map[string]cipher.AEAD, len(entries))}
	if i := slices.IndexFunc(entries, func(e keyEntry) bool { return !e.decryptOnly }); i > 0 {
		entries = append([]keyEntry{entries[i]}, slices.Delete(slices.Clone(entries), i, i+1)...)
	}
	for _, e := range entries {
		block, err := aes.NewCipher(e.key)
		if err != nil {
			return nil, fmt.Errorf("payloadcodec: key %q: %w", e.id, err)
		}
		gcm, err := cipher.NewGCM(block) // 12-byte nonce, 16-byte tag
		if err != nil {
			return nil, fmt.Errorf("payloadcodec: key %q: %w", e.id, err)
		}
		k.ids = append(k.ids, e.id)
		k.aead[e.id] = gcm
	}
	return k, nil
}

// checkKeyID reports whether id may be used as a key id. The error never
// contains the id itself (a mistyped entry may have a key in that place).
func checkKeyID(id string) error {
	if id == "" {
		return errors.New("key id is empty")
	}
	if len(id) > maxKeyIDLen {
		return fmt.Errorf("key id is longer than %d characters", maxKeyIDLen)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '.', c == '_', c == '-':
		default:
			return errors.New("key id may only contain A-Z a-z 0-9 . _ -")
		}
	}
	return nil
}

func decodeBase64(s string) ([]byte, bool) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return b, true
		}
	}
	return nil, false
}

// EncryptionKeyID is the id of the key new payloads are encrypted with.
func (k *Keyring) EncryptionKeyID() string { return k.ids[0] }

// KeyIDs returns the ids of all keys, the encryption key first.
func (k *Keyring) KeyIDs() []string { return append([]string(nil), k.ids...) }

// DecryptOnlyKeyIDs returns the ids of the keys that only decrypt.
func (k *Keyring) DecryptOnlyKeyIDs() []string { return append([]string(nil), k.ids[1:]...) }

// String shows the key ids only.
func (k Keyring) String() string {
	if len(k.ids) == 0 {
		return "payloadcodec.Keyring{}"
	}
	return fmt.Sprintf("payloadcodec.Keyring{encrypt: %s, decrypt-only: [%s]}", k.ids[0], strings.Join(k.ids[1:], " "))
}

// GoString keeps %#v from printing the keys.
func (k Keyring) GoString() string { return k.String() }

// LogValue keeps slog from printing the keys.
func (k Keyring) LogValue() slog.Value { return slog.StringValue(k.String()) }

// GenerateKey returns a fresh keyring entry "dev-<random>:<base64 32-byte
// key>" for development; ParseKeyring accepts it (alone or as part of a
// list). For production, generate keys the same way and keep them in a
// secret store.
func GenerateKey() string {
	key := make([]byte, KeySize)
	rand.Read(key) // never fails (crypto/rand, Go 1.24+)
	suffix := make([]byte, 4)
	rand.Read(suffix)
	return "dev-" + hex.EncodeToString(suffix) + ":" + base64.StdEncoding.EncodeToString(key)
}

package payloadcodec

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
)

// testKey returns a deterministic base64 key; b makes each one different.
func testKey(b byte) string {
	return base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{b}, KeySize))
}

func mustRing(t *testing.T, s string) *Keyring {
	t.Helper()
	r, err := ParseKeyring(s)
	if err != nil {
		t.Fatalf("ParseKeyring: %v", err)
	}
	return r
}

func TestParseKeyring(t *testing.T) {
	k1, k2 := testKey(1), testKey(2)
	r := mustRing(t, " 2026-12:"+k1+" , 2026-06:"+k2+":decrypt-only ")
	if got := r.EncryptionKeyID(); got != "2026-12" {
		t.Errorf("EncryptionKeyID = %q, want 2026-12", got)
	}
	if got := r.KeyIDs(); !slices.Equal(got, []string{"2026-12", "2026-06"}) {
		t.Errorf("KeyIDs = %v", got)
	}
	// The unmarked key encrypts wherever it is listed.
	r = mustRing(t, "2026-06:"+k2+":decrypt-only,2026-12:"+k1+",2025-12:"+testKey(3)+":decrypt-only")
	if got := r.EncryptionKeyID(); got != "2026-12" {
		t.Errorf("EncryptionKeyID = %q, want the unmarked 2026-12", got)
	}
	if got := r.DecryptOnlyKeyIDs(); !slices.Equal(got, []string{"2026-06", "2025-12"}) {
		t.Errorf("DecryptOnlyKeyIDs = %v, want the marked ones in order", got)
	}

	// Other base64 alphabets and missing padding are accepted.
	raw := bytes.Repeat([]byte{0xfb, 0xff}, KeySize/2) // has + and / in std base64
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if _, err := ParseKeyring("k:" + enc.EncodeToString(raw)); err != nil {
			t.Errorf("key in %v: %v", enc, err)
		}
	}
}

func TestParseKeyringErrors(t *testing.T) {
	k := testKey(7)
	short := base64.StdEncoding.EncodeToString(make([]byte, 16))
	long := base64.StdEncoding.EncodeToString(make([]byte, 33))
	for _, tc := range []struct {
		name, in, want string
		is             error
	}{
		{name: "empty", in: "", is: ErrNoKeys},
		{name: "blank", in: "  ", is: ErrNoKeys},
		{name: "no colon", in: k, want: "entry 1 has no ':'"},
		{name: "empty id", in: ":" + k, want: "entry 1: key id is empty"},
		{name: "bad id chars", in: "a b:" + k, want: "entry 1: key id may only contain"},
		{name: "id with slash", in: "2026/12:" + k, want: "key id may only contain"},
		{name: "id too long", in: strings.Repeat("a", 65) + ":" + k, want: "longer than 64"},
		{name: "empty key", in: "a:", want: `entry 1 (id "a"): key is empty`},
		{name: "not base64", in: "a:" + k + ",b:!!!notbase64!!!", want: `entry 2 (id "b"): key is not valid base64`},
		{name: "short key", in: "a:" + short, want: "key is 16 bytes, want 32"},
		{name: "long key", in: "a:" + long, want: "key is 33 bytes, want 32"},
		{name: "duplicate id", in: "a:" + k + ",b:" + testKey(8) + ":decrypt-only,a:" + testKey(9), want: `entry 3: duplicate key id "a"`},
		// Exactly one key encrypts: a list that leaves its role to the
		// order (today's "new key first") or marks every key is refused.
		{name: "two encrypting keys", in: "new:" + testKey(8) + ",old:" + k, want: "2 of 2 keys would encrypt: [new old]", is: ErrEncryptingKeys},
		{name: "no encrypting key", in: "a:" + k + ":decrypt-only,b:" + testKey(8) + ":decrypt-only", want: "0 of 2 keys would encrypt", is: ErrEncryptingKeys},
		{name: "unknown mark", in: "a:" + k + ":decrypt", want: `entry 1 (id "a"): the only mark after the key is :decrypt-only`},
		{name: "stray comma", in: "a:" + k + ",", want: "entry 2 is empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := ParseKeyring(tc.in)
			if err == nil {
				t.Fatalf("ParseKeyring(%q) = %v, want an error", tc.in, r)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %v, want %v", err, tc.is)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q, want it to contain %q", err, tc.want)
			}
			// No key material in errors.
			for _, secret := range []string{k, short, long, testKey(8), testKey(9), "notbase64"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error %q contains key material", err)
				}
			}
		})
	}
}

// A key written where the id belongs (or a bare key) must not be echoed.
func TestParseKeyringDoesNotEchoMisplacedKey(t *testing.T) {
	k := testKey(0xfb) // "+/v7..." is not a valid id
	_, err := ParseKeyring(k + ":2026-12")
	if err == nil {
		t.Fatal("want an error")
	}
	if strings.Contains(err.Error(), strings.TrimRight(k, "=")) {
		t.Fatalf("error %q echoes the key", err)
	}
}

func TestKeyringDoesNotPrintKeys(t *testing.T) {
	k1, k2 := testKey(3), testKey(4)
	r := mustRing(t, "new:"+k1+",old:"+k2+":decrypt-only")
	var logged bytes.Buffer
	slog.New(slog.NewTextHandler(&logged, nil)).Info("ring", "keys", r)
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("ring", "keys", r)
	type config struct {
		Exported *Keyring
		hidden   *Keyring
		value    Keyring
	}
	cfg := config{r, r, *r}
	// The raw key bytes, as fmt would print a []byte or the first words
	// of an AES key schedule.
	raw := fmt.Sprint(bytes.Repeat([]byte{3}, KeySize)[:8])
	for _, s := range []string{
		r.String(), fmt.Sprint(r), fmt.Sprintf("%v %+v %#v %s", r, r, r, r), fmt.Sprintf("%v %+v %#v", *r, *r, *r),
		fmt.Sprintf("%v %+v %#v", cfg, cfg, cfg), logged.String(),
	} {
		if strings.Contains(s, k1) || strings.Contains(s, k2) || strings.Contains(s, raw) ||
			strings.Contains(s, "50529027") /* 0x03030303 */ || strings.Contains(s, "aes") {
			t.Errorf("printed keyring %q shows key material", s)
		}
		if !strings.Contains(s, "new") {
			t.Errorf("printed keyring %q does not name its keys", s)
		}
	}
}

func TestGenerateKey(t *testing.T) {
	a, b := GenerateKey(), GenerateKey()
	if a == b {
		t.Fatal("GenerateKey returned the same key twice")
	}
	if !strings.HasPrefix(a, "dev-") {
		t.Errorf("GenerateKey() = id %q..., want dev-<random>", strings.SplitN(a, ":", 2)[0])
	}
	r := mustRing(t, a+","+b+":decrypt-only")
	if id := r.EncryptionKeyID(); !strings.HasPrefix(a, id+":") {
		t.Errorf("encryption key id %q is not the first entry's", id)
	}
}

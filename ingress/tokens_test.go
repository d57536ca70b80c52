package ingress

import (
	"fmt"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestTokens(t *testing.T) {
	ts := newTokens([]Token{"first-token-0123456789", "second-token-0123456789"})
	tests := []struct {
		name   string
		path   string // "" on the bare route
		header string
		want   bool
	}{
		{"first in path", "first-token-0123456789", "", true},
		{"second in path", "second-token-0123456789", "", true},
		{"first as Bearer", "", "Bearer first-token-0123456789", true},
		{"scheme is case-insensitive", "", "bearer second-token-0123456789", true},
		{"no token", "", "", false},
		{"wrong token", "", "Bearer third-token-0123456789", false},
		{"prefix of a token", "", "Bearer first-token", false},
		{"token with a suffix", "first-token-0123456789x", "", false},
		{"empty Bearer", "", "Bearer ", false},
		{"Basic scheme", "", "Basic first-token-0123456789", false},
		{"wrong path token beats a right Bearer", "nope-nope-nope-nope", "Bearer first-token-0123456789", false},
	}
	for _, tt := range tests {
		r := httptest.NewRequest("POST", "/webhooks/wochit", nil)
		if tt.header != "" {
			r.Header.Set("Authorization", tt.header)
		}
		if got := ts.authorized(r, tt.path, tt.path != ""); got != tt.want {
			t.Errorf("%s: authorized = %v, want %v", tt.name, got, tt.want)
		}
	}
	none := newTokens(nil)
	r := httptest.NewRequest("POST", "/webhooks/wochit", nil)
	if !none.authorized(r, "", false) {
		t.Error("without tokens the bare route must be open")
	}
	if none.authorized(r, "anything-at-all", true) || none.authorized(r, "", true) {
		t.Error("without tokens the token route must accept nothing")
	}
}

func TestTokenRedaction(t *testing.T) {
	var logged strings.Builder
	slog.New(slog.NewTextHandler(&logged, nil)).Info("config", "tokens", []Token{"super-secret-token-value"}, "token", Token("super-secret-token-value"))
	if strings.Contains(logged.String(), "super-secret") {
		t.Errorf("a logged token shows: %s", logged.String())
	}
	cfg := Config{Tokens: []Token{"super-secret-token-value"}}
	for _, s := range []string{fmt.Sprintf("%v", cfg), fmt.Sprintf("%+v", cfg), fmt.Sprintf("%#v", cfg), fmt.Sprint(cfg.Tokens)} {
		if strings.Contains(s, "super-secret") {
			t.Errorf("a formatted config shows the token: %s", s)
		}
	}
}

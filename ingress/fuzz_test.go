package ingress

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/wochit-ingest/wochit-ingest/contract"
	"github.com/wochit-ingest/wochit-ingest/internal/safehttp"
)

// FuzzDecodeNotification checks the decoder's contract on any input: it
// never panics, and it either refuses the body with a 400 code from the
// known set (naming a known field, if any, in a short plain message), or
// returns a notification that the body really contained, that decodes to
// itself again, and that meets README's rules as checked here on their own
// (acceptedAsREADMESays: field alphabet and lengths; URLs absolute, https
// or dev's http, no credentials, a port the policy allows, a host that is
// a public IP literal or a name that cannot mean an internal one) — not by
// re-running the decoder's validation or its policy. The seeds run in
// every `go test`; `go test -fuzz FuzzDecodeNotification ./ingress`
// explores further.
func FuzzDecodeNotification(f *testing.F) {
	valid := `{"videoContext":"user-42","wochitVideoId":"6094092472a9105747957aa3","thumbnailUrl":"https://media.example.com/t.jpg?sig=1","videoUrl":"https://media.example.com/v.mp4?sig=1","title":"The video title"}`
	for _, seed := range []string{
		valid,
		strings.Replace(valid, `"title":"The video title"`, `"title":null`, 1),
		strings.Replace(valid, `}`, `,"futureField":{"nested":[1,2,3]}}`, 1),
		strings.Replace(valid, `https://media.example.com/v.mp4?sig=1`, `http://127.0.0.1:8081/v.mp4`, 1),
		strings.Replace(valid, `https://media.example.com/v.mp4?sig=1`, `https://169.254.169.254/latest/meta-data/`, 1),
		strings.Replace(valid, `https://media.example.com/v.mp4?sig=1`, `https://0x7f.1/`, 1),
		strings.Replace(valid, `https://media.example.com/v.mp4?sig=1`, `https://[::ffff:127.0.0.1]/`, 1),
		strings.Replace(valid, `https://media.example.com/v.mp4?sig=1`, `https://user:pw@media.example.com/`, 1),
		strings.Replace(valid, `https://media.example.com/v.mp4?sig=1`, `https://metadata.google.internal/`, 1),
		strings.Replace(valid, `6094092472a9105747957aa3`, `../../etc/passwd`, 1),
		strings.Replace(valid, `"title":"The video title"`, `"title":"\u0000\ud800"`, 1),
		strings.Replace(valid, `}`, `,"videoUrl":"https://other.example.com/"}`, 1),
		strings.Replace(valid, `?sig=1`, `?X-Amz-Date=20261201T120000Z&X-Amz-Expires=9300000000&X-Amz-Signature=a`, 1),
		strings.Replace(valid, `?sig=1`, `?X-Goog-Date=20261201T120000Z&X-Goog-Expires=604800&X-Goog-Signature=a`, 1),
		strings.Replace(valid, `?sig=1`, `?Expires=1&Signature=a`, 1),
		valid + ` {}`,
		`{"wochitVideoId": `,
		`[1,2]`,
		`null`,
		``,
		`{}`,
		`{"videoUrl":42}`,
		"{\"title\":\"\xff\"}",
		`{"a":{"b":{"c":{"d":[[[[[]]]]]}}}}`,
	} {
		f.Add([]byte(seed), false)
		f.Add([]byte(seed), true)
	}
	known := map[string]bool{}
	for _, fd := range fields {
		known[fd.name] = true
	}

	f.Fuzz(func(t *testing.T, body []byte, dev bool) {
		rules := urlRules{}
		if dev {
			rules = urlRules{allowHTTP: true, policy: safehttp.Policy{AllowPrivate: true, AllowAnyPort: true}}
		}
		n, unknown, apiErr := decodeNotification(bytes.NewReader(body), rules, fuzzNow)
		if apiErr != nil {
			switch apiErr.Code {
			case codeInvalidJSON, codeMissingField, codeInvalidField:
			default:
				t.Fatalf("unexpected code %q", apiErr.Code)
			}
			if apiErr.status() != 400 {
				t.Fatalf("code %s maps to status %d, want 400", apiErr.Code, apiErr.status())
			}
			if apiErr.Field != "" && !known[apiErr.Field] {
				t.Fatalf("error names unknown field %q", apiErr.Field)
			}
			// Messages are built from field names and rules only: short,
			// printable ASCII, never the values sent.
			if apiErr.Message == "" || len(apiErr.Message) > 120 || strings.IndexFunc(apiErr.Message, func(r rune) bool { return r > unicode.MaxASCII || !unicode.IsPrint(r) }) >= 0 {
				t.Fatalf("message %q is not a short plain message", apiErr.Message)
			}
			return
		}

		if why := acceptedAsREADMESays(n, dev); why != "" {
			t.Fatalf("accepted %+v: %s", n, why)
		}
		for _, name := range unknown {
			if known[name] {
				t.Fatalf("known field %q reported as unknown", name)
			}
		}
		// What was accepted is what the body says, by a second parser.
		var doc map[string]any
		if err := json.Unmarshal(body, &doc); err != nil {
			t.Fatalf("accepted a body encoding/json refuses: %v", err)
		}
		if doc["wochitVideoId"] != n.WochitVideoID || doc["videoUrl"] != n.VideoURL || doc["thumbnailUrl"] != n.ThumbnailURL || doc["videoContext"] != n.VideoContext {
			t.Fatalf("decoded %+v, but the body says %v", n, doc)
		}
		again, _, apiErr := decodeNotification(bytes.NewReader(mustJSON(t, n)), rules, fuzzNow)
		if apiErr != nil || again != n {
			t.Fatalf("re-encoding %+v decodes to %+v, %v", n, again, apiErr)
		}
	})
}

// acceptedAsREADMESays checks an accepted notification against README's
// rules ("The webhook endpoint", "Security"), written out here without the
// decoder's code: the standard library classifies addresses. It returns why
// the notification breaks them, or "".
func acceptedAsREADMESays(n contract.Notification, dev bool) string {
	switch {
	case n.WochitVideoID == "" || len(n.WochitVideoID) > 128 || strings.Trim(n.WochitVideoID, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_") != "":
		return "wochitVideoId is empty, longer than 128 or outside letters, digits, - and _"
	case n.VideoContext == "" || utf8.RuneCountInString(n.VideoContext) > 2048:
		return "videoContext is empty or longer than 2048 characters"
	case utf8.RuneCountInString(n.Title) > 1024:
		return "title is longer than 1024 characters"
	}
	for _, raw := range []string{n.VideoURL, n.ThumbnailURL} {
		if why := urlAsREADMESays(raw, dev); why != "" {
			return fmt.Sprintf("URL %q: %s", raw, why)
		}
	}
	return ""
}

func urlAsREADMESays(raw string, dev bool) string {
	u, err := url.Parse(raw)
	switch {
	case raw == "" || utf8.RuneCountInString(raw) > 8192:
		return "empty or longer than 8192 characters"
	case err != nil || !u.IsAbs() || u.Host == "":
		return "not an absolute URL"
	case u.Scheme != "https" && !(dev && u.Scheme == "http"):
		return "scheme not allowed"
	case u.User != nil:
		return "carries credentials"
	case !dev && u.Port() != "" && u.Port() != "80" && u.Port() != "443":
		return "a port other than 80 and 443"
	}
	host := strings.ToLower(strings.TrimSuffix(u.Hostname(), "."))
	if ip, err := netip.ParseAddr(host); err == nil {
		ip = ip.WithZone("")
		switch {
		case ip.Is4In6(), ip.IsUnspecified(), ip.IsMulticast(), ip.IsLinkLocalUnicast(), ip.IsLinkLocalMulticast():
			return "an address even dev may not reach"
		case !dev && (ip.IsLoopback() || ip.IsPrivate() || !ip.IsGlobalUnicast()):
			return "a loopback, private or non-global address"
		case ip.Is6() && !netip.MustParsePrefix("2000::/3").Contains(ip) && !(dev && (ip.IsLoopback() || ip.IsPrivate())):
			return "an IPv6 address outside global unicast"
		}
		return ""
	}
	labels := strings.Split(host, ".")
	last := labels[len(labels)-1]
	switch {
	case strings.Trim(last, "0123456789") == "", strings.HasPrefix(last, "0x") && strings.Trim(last[2:], "0123456789abcdef") == "":
		return "a numeric host that is not an IP address"
	case host == "metadata" || host == "metadata.google.internal":
		return "a cloud metadata name"
	case dev:
		return ""
	case len(labels) < 2, host == "localhost", last == "localhost", last == "local", last == "internal", last == "localdomain", last == "lan", last == "corp", last == "home", last == "intranet", last == "private", strings.HasSuffix(host, ".home.arpa"):
		return "an internal name"
	}
	return ""
}

// fuzzNow is the receipt time of fuzzed notifications.
var fuzzNow = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

func mustJSON(t *testing.T, v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

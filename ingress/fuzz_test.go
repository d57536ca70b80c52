package ingress

import (
	"bytes"
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/wochit-ingest/wochit-ingest/internal/safehttp"
)

// FuzzDecodeNotification checks the decoder's contract on any input: it
// never panics, and it either refuses the body with a 400 code from the
// known set (naming a known field, if any, in a short plain message), or
// returns a notification that passes validation, that the body really
// contained, and that decodes to itself again. The seeds run in every `go
// test`; `go test -fuzz FuzzDecodeNotification ./ingress` explores further.
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

		if err := validate(n, rules, fuzzNow); err != nil {
			t.Fatalf("accepted a notification that fails validation: %v", err)
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
		for _, raw := range []string{n.VideoURL, n.ThumbnailURL} {
			u, err := url.Parse(raw)
			if err != nil || (u.Scheme != "https" && !(dev && u.Scheme == "http")) || u.User != nil {
				t.Fatalf("accepted URL %q", raw)
			}
			if rules.policy.CheckHost(u.Hostname()) != nil {
				t.Fatalf("accepted URL %q whose host the policy blocks", raw)
			}
		}
		again, _, apiErr := decodeNotification(bytes.NewReader(mustJSON(t, n)), rules, fuzzNow)
		if apiErr != nil || again != n {
			t.Fatalf("re-encoding %+v decodes to %+v, %v", n, again, apiErr)
		}
	})
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

package redact

import (
	"math/rand/v2"
	"net/url"
	"strings"
	"testing"
)

// Tokens in every place a URL carries them, in the path styles CDNs and
// signed-URL schemes use, are gone; the host, the readable path and the
// file extension stay.
func TestURLRedactsTokens(t *testing.T) {
	for in, want := range map[string]string{
		// Query, fragment, userinfo.
		"https://cdn.example/v.mp4?X-Goog-Signature=abc&x=1":   "https://cdn.example/v.mp4",
		"https://user:pw@cdn.example/v.mp4#t=1":                "https://cdn.example/v.mp4",
		"https://cdn.example/videos/2024/06/summer-sale.mp4":   "https://cdn.example/videos/2024/06/summer-sale.mp4",
		"http://[2001:db8::1]:8443/a/b.mp4?sig=1":              "http://[2001:db8::1]:8443/a/b.mp4",
		"https://cdn.example/videos/6094092472a9105747957aa3/": "https://cdn.example/videos/REDACTED/",
		// Akamai token in the path (Vimeo's progressive links).
		"https://vod-progressive.akamaized.net/exp=1700000000~acl=%2F123%2F%2A~hmac=9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08/vimeo-prod-skyfire-std-us/01/123/v.mp4": "https://vod-progressive.akamaized.net/REDACTED/vimeo-prod-skyfire-std-us/01/123/v.mp4",
		// Bunny CDN path token.
		"https://x.b-cdn.net/bcdn_token=tYXqAbc_123&expires=1598024587&token_path=%2Fvideos%2F/videos/v.mp4": "https://x.b-cdn.net/REDACTED/videos/v.mp4",
		// Google Media CDN path token.
		"https://media.example.com/edge-cache-token=Expires=1700000000~KeyName=k~Signature=AbC/v.mp4": "https://media.example.com/REDACTED/v.mp4",
		// Cloudflare Stream: a JWT as a path segment.
		"https://customer-abc.cloudflarestream.com/eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ2aWRlbyIsImV4cCI6MTcwMDAwMDAwMH0.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c/downloads/default.mp4": "https://customer-abc.cloudflarestream.com/REDACTED/downloads/default.mp4",
		// nginx secure_link: an MD5 in base64url and an expiry.
		"https://dl.example.com/s/Xcp1AwQ6Ci9oMkQMwJjz_g,2147483647/v.mp4": "https://dl.example.com/s/REDACTED/v.mp4",
		// Capability URLs: an unguessable id is the credential.
		"https://files.example.com/d/3f2504e0-4f89-11d3-9a0c-0305e82c3301/v.mp4": "https://files.example.com/d/REDACTED/v.mp4",
		"https://files.example.com/share/Ab3dEf9hIj2kLm5nOp7q.mp4":               "https://files.example.com/share/REDACTED.mp4",
		// A segment after one that names a token, however short.
		"https://cdn.example/token/abc123/v.mp4": "https://cdn.example/token/REDACTED/v.mp4",
		"https://cdn.example/hmac/ff/v.mp4":      "https://cdn.example/hmac/REDACTED/v.mp4",
		// The ingress's token route (send's and a proxy's error messages).
		"http://127.0.0.1:8080/webhooks/wochit/tok-abcdefghijklmnop": "http://127.0.0.1:8080/webhooks/wochit/REDACTED",
		// Matrix parameters and percent-encoded '='.
		"https://cdn.example/v.mp4;jsessionid=1A2B3C":                        "https://cdn.example/REDACTED",
		"https://cdn.example/a%3Db/v.mp4":                                    "https://cdn.example/REDACTED/v.mp4",
		"https://cdn.example/%E6%98%A0%E5%83%8F/v.mp4":                       "https://cdn.example/%E6%98%A0%E5%83%8F/v.mp4",
		"https://cdn.example/a%2Fb%2F9f86d081884c7d659a2feaa0c55ad015/v.mp4": "https://cdn.example/REDACTED/v.mp4",
	} {
		if got := URL(in); got != want {
			t.Errorf("URL(%q)\n got %q\nwant %q", in, got, want)
		}
	}
	if got := URL("http://[::1%zz]/"); got != "(unparseable URL)" {
		t.Errorf("an unparseable URL became %q", got)
	}
}

// Names people give files and folders stay readable.
func TestURLKeepsReadableSegments(t *testing.T) {
	for _, seg := range []string{
		"summer-sale-2024", "my-holiday-video-2024", "SummerCampaignFinalCut", "video_1080p_h264_aac_final",
		"ep-12-part-3-final-cut-v2", "my-very-long-summer-holiday-video", "2024-06-01", "1700000000000",
		"vimeo-prod-skyfire-std-us", "thumbnail_1920x1080", "Video-Final-Version-2024-HD", "IMG_20240601_123456",
		"VID-20240601-WA0001", "out_1080p_30fps_h264", "ElephantsDream", "hls-720p-chunk-000123",
		"segment-00001-of-00100", "user-generated-content", "2024-06-01T12-30-00Z", "campaign_2024_q3_final_v12",
		"Big_Buck_Bunny_1080_10s_30MB", "the-quick-brown-fox-jumps-over-the-lazy-dog", "REDACTED",
	} {
		in := "https://cdn.example/" + seg + "/v.mp4"
		if got := URL(in); got != in {
			t.Errorf("URL(%q) = %q: a readable segment was redacted", in, got)
		}
	}
}

// Random tokens in the alphabets tokens use are redacted: none of 5000 of
// 22 characters or more is missed in base64url, base62 or hex, and at most
// 1% of 24-character single-case base36 ones.
func TestURLRedactsRandomTokens(t *testing.T) {
	r := rand.New(rand.NewPCG(17, 12))
	for _, tt := range []struct {
		alphabet string
		length   int
		maxMiss  int
	}{
		{"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", 43, 0},
		{"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", 22, 0},
		{"0123456789abcdef", 32, 0},
		{"0123456789ABCDEF", 40, 0},
		{"abcdefghijklmnopqrstuvwxyz", 24, 0},
		{"abcdefghijklmnopqrstuvwxyz0123456789", 24, 50},
	} {
		missed := 0
		for range 5000 {
			b := make([]byte, tt.length)
			for i := range b {
				b[i] = tt.alphabet[r.IntN(len(tt.alphabet))]
			}
			in := "https://cdn.example/v/" + string(b) + "/v.mp4"
			if got := URL(in); got != "https://cdn.example/v/REDACTED/v.mp4" {
				missed++
				if missed <= 3 && tt.maxMiss == 0 {
					t.Errorf("URL(%q) = %q", in, got)
				}
			}
		}
		if missed > tt.maxMiss {
			t.Errorf("%d of 5000 random %d-character tokens of %q were not redacted, want at most %d", missed, tt.length, tt.alphabet, tt.maxMiss)
		}
	}
}

func TestURLsInText(t *testing.T) {
	in := `Get "https://cdn.example/s/Xcp1AwQ6Ci9oMkQMwJjz_g,2147483647/v.mp4?sig=1": EOF, then http://h/a#frag`
	want := `Get "https://cdn.example/s/REDACTED/v.mp4": EOF, then http://h/a`
	if got := URLs(in); got != want {
		t.Errorf("URLs(%q)\n got %q\nwant %q", in, got, want)
	}
	if got := URLs("no url: a=b?c"); got != "no url: a=b?c" {
		t.Errorf("text without a URL changed: %q", got)
	}
}

// On any input: no panic; the result has no query, fragment or userinfo,
// the same host and (absolute URLs) as many path segments (object names and logs stay
// comparable); and redacting again changes nothing (the object metadata an
// attempt compares is stable).
func FuzzURL(f *testing.F) {
	for _, seed := range []string{
		"https://cdn.example/v.mp4?sig=1",
		"https://u:p@cdn.example/a%2Fb/exp=1~hmac=ab/v.mp4#x",
		"http://[2001:db8::1%25eth0]:8080/a;b=c/d",
		"https://cdn.example/%zz/v.mp4",
		"https://cdn.example//a///b/",
		"http:opaque/Xcp1AwQ6Ci9oMkQMwJjz_g",
		"https://cdn.example/REDACTED.mp4",
		"https://cdn.example/ü/🎬/" + strings.Repeat("a1B2", 20),
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		got := URL(raw)
		if got == "(unparseable URL)" {
			return
		}
		if again := URL(got); again != got {
			t.Fatalf("URL(%q) = %q, but URL of that is %q", raw, got, again)
		}
		in, err := url.Parse(raw)
		if err != nil {
			t.Fatalf("URL(%q) = %q for an unparseable input", raw, got)
		}
		out, err := url.Parse(got)
		if err != nil {
			t.Fatalf("URL(%q) = %q, which does not parse: %v", raw, got, err)
		}
		if out.RawQuery != "" || out.Fragment != "" || out.User != nil {
			t.Fatalf("URL(%q) = %q keeps a query, fragment or userinfo", raw, got)
		}
		if out.Host != in.Host {
			t.Fatalf("URL(%q) = %q changed the host", raw, got)
		}
		// (net/url writes a relative path whose first segment has a colon
		// as "./…": count on absolute URLs.)
		if in.Scheme != "" && in.Opaque == "" && strings.Count(out.EscapedPath(), "/") != strings.Count(in.EscapedPath(), "/") {
			t.Fatalf("URL(%q) = %q changed the number of path segments", raw, got)
		}
	})
}

// Text is the rule every failure message and log line goes through: the
// storage client's errors quote a resumable session's upload_id.
func TestText(t *testing.T) {
	tests := map[string]string{
		`uploading v: Put "http://127.0.0.1:9/upload/storage/v1/b/b/o?uploadType=resumable&upload_id=ABC123": EOF`: `uploading v: Put "http://127.0.0.1:9/upload/storage/v1/b/b/o": EOF`,
		`fetching https://cdn.example.com/v.mp4?X-Goog-Signature=s3cr3t failed`:                                    `fetching https://cdn.example.com/v.mp4 failed`,
		`session upload_id=ABC123 expired`: `session upload_id=REDACTED expired`,
		// A token in the path, as Akamai puts it.
		`fetching https://x.akamaized.net/exp=1~acl=%2F*~hmac=ab12/v.mp4: EOF`: `fetching https://x.akamaized.net/REDACTED/v.mp4: EOF`,
		`googleapi: Error 503: backend error`:                                  `googleapi: Error 503: backend error`,
	}
	for in, want := range tests {
		if got := Text(in); got != want {
			t.Errorf("Text(%q) = %q, want %q", in, got, want)
		}
	}
}

package workflows_test

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"google.golang.org/protobuf/proto"

	"github.com/wochit-ingest/wochit-ingest/contract"
	"github.com/wochit-ingest/wochit-ingest/internal/payloadcodec"

	"github.com/wochit-ingest/wochit-ingest/activities"
	"github.com/wochit-ingest/wochit-ingest/workflows"
)

// checkKeyword fails unless v fits every visibility store: at most 255
// characters (SQL Keyword columns), at most 2048 bytes of JSON (the
// frontend's per-value limit) and no NUL (PostgreSQL's JSON).
func checkKeyword(t *testing.T, v string) {
	t.Helper()
	b, _ := json.Marshal(v)
	if n := utf8.RuneCountInString(v); n > workflows.MaxKeywordRunes || len(b) > workflows.MaxSearchAttributeValueBytes || strings.ContainsRune(v, 0) {
		t.Fatalf("keyword of %d characters, %d JSON bytes (NUL: %v) exceeds Temporal's limits", n, len(b), strings.ContainsRune(v, 0))
	}
}

func TestSearchKeywordFitsEveryVisibilityStore(t *testing.T) {
	for _, tt := range []struct {
		name, in string
		kept     bool // the value is kept as is
	}{
		{"short", "user-42", true},
		{"exactly 255", strings.Repeat("é", 255), true},
		{"256 characters", strings.Repeat("a", 256), false},
		{"2048 emoji", strings.Repeat("😀", 2048), false},
		{"2048 HTML characters (6 JSON bytes each)", strings.Repeat("<", 2048), false},
		{"2048 line separators", strings.Repeat("\u2028", 2048), false},
		{"255 ampersands", strings.Repeat("&", 255), true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := workflows.SearchKeyword(tt.in)
			checkKeyword(t, got)
			if (got == tt.in) != tt.kept {
				t.Fatalf("SearchKeyword kept the value: %v, want %v (got %q)", got == tt.in, tt.kept, got)
			}
			if !tt.kept && !strings.HasPrefix(got, string([]rune(tt.in)[:200])+"…sha256:") {
				t.Fatalf("a long value keeps its first 200 characters and a digest; got %q", got)
			}
		})
	}
	// Control characters are replaced, not dropped: the value stays
	// recognisable and NUL never reaches the store.
	if got := workflows.SearchKeyword("a\x00b\x1fc"); got != "a\uFFFDb\uFFFDc" {
		t.Fatalf("SearchKeyword(control characters) = %q", got)
	}
	// Long values that share their first 200 characters stay distinct.
	prefix := strings.Repeat("x", 300)
	if workflows.SearchKeyword(prefix+"1") == workflows.SearchKeyword(prefix+"2") {
		t.Fatal("two long values with the same prefix share a keyword")
	}
}

func TestFitJSON(t *testing.T) {
	for _, in := range []string{"short", strings.Repeat("😀", 1024), strings.Repeat("<&>", 500), strings.Repeat("\"\\\n", 400), "\x00\x01" + strings.Repeat("é", 300)} {
		got := workflows.FitJSON(in, 300)
		b, _ := json.Marshal(got)
		if len(b) > 300 || !utf8.ValidString(got) {
			t.Fatalf("FitJSON(%.20q…) = %d JSON bytes (valid UTF-8: %v), want ≤ 300", in, len(b), utf8.ValidString(got))
		}
		if in0, _ := json.Marshal(in); len(in0) <= 300 && got != in {
			t.Fatalf("FitJSON changed %q, which fits", in)
		}
		if got != in && (!strings.HasSuffix(got, "…") || !strings.HasPrefix(in, strings.TrimSuffix(got, "…"))) {
			t.Fatalf("FitJSON(%.20q…) = %q: not a marked prefix", in, got)
		}
	}
}

// FuzzFitJSON checks FitJSON's own JSON length count, which workflow code
// uses instead of encoding/json, against encoding/json.
func FuzzFitJSON(f *testing.F) {
	for _, s := range []string{"", "a", "<>&", "\u2028\u2029", "\x00\b\f\n\r\t\x7f", "\xff\xfe", "😀é\"\\"} {
		f.Add(s, 40)
	}
	f.Fuzz(func(t *testing.T, s string, max int) {
		if max < 8 || max > 4096 {
			return
		}
		got := workflows.FitJSON(s, max)
		b, _ := json.Marshal(got)
		whole, _ := json.Marshal(s)
		switch {
		case len(whole) <= max && got != s:
			t.Fatalf("FitJSON(%q, %d) = %q, but %d JSON bytes fit", s, max, got, len(whole))
		case len(b) > max:
			t.Fatalf("FitJSON(%q, %d) = %q: %d JSON bytes", s, max, got, len(b))
		}
	})
}

func TestStaticSummaryFitsTheSummaryLimit(t *testing.T) {
	for _, title := range []string{"", "My video", strings.Repeat("😀", 1024), strings.Repeat("<", 1024), strings.Repeat("\x00", 1024)} {
		s := workflows.StaticSummary(contract.Notification{Title: title, WochitVideoID: strings.Repeat("a", 128)})
		b, _ := json.Marshal(s)
		if len(b) > workflows.MaxSummaryBytes || !strings.HasSuffix(s, "("+strings.Repeat("a", 128)+")") {
			t.Fatalf("summary %q is %d JSON bytes (limit %d) or lost the video id", s, len(b), workflows.MaxSummaryBytes)
		}
	}
}

// TestEncryptedSummaryFitsTheSummaryLimit: summaries go through the client's
// data converter, so with PAYLOAD_KEYS set the server sees the encrypted
// payload (nonce, tag, the inner payload's metadata, the key id). Every
// summary the service writes — the run's, each transfer's, the callbacks' —
// at its widest inputs (a 1024-character title, a 128-character video id, a
// 222-character bucket, a long GCS_PREFIX of characters JSON escapes or
// spells in 4 bytes), encrypted under the longest key id the keyring
// accepts, must stay at most 380 bytes: a margin of 20 under
// limit.userMetadataSummarySize (400 bytes), which the server enforces by
// failing the command.
func TestEncryptedSummaryFitsTheSummaryLimit(t *testing.T) {
	const (
		userMetadataSummarySize = 400
		margin                  = 20
	)
	key := base64.StdEncoding.EncodeToString(make([]byte, payloadcodec.KeySize))
	ring, err := payloadcodec.ParseKeyring(strings.Repeat("k", 64) + ":" + key)
	if err != nil {
		t.Fatal(err)
	}
	dc := payloadcodec.DataConverter(ring)
	id := strings.Repeat("a", 128)
	var summaries []string
	for _, wide := range []string{strings.Repeat("😀", 1024), strings.Repeat("<", 1024), strings.Repeat("a", 1024), strings.Repeat("\x00", 256)} {
		summaries = append(summaries, workflows.StaticSummary(contract.Notification{Title: wide, WochitVideoID: id}))
		dest := activities.Destination{Bucket: strings.Repeat("b", 222), Dir: wide[:len(wide)/2] + "/" + id + "/"}
		for _, kind := range []contract.AssetKind{contract.KindVideo, contract.KindThumbnail} {
			summaries = append(summaries, workflows.TransferSummary(kind, dest), workflows.ReuseSummary(kind))
		}
	}
	summaries = append(summaries, string(contract.VideoStored)+" callback", string(contract.VideoFailed)+" callback")
	widest := 0
	for _, summary := range summaries {
		p, err := dc.ToPayload(summary)
		if err != nil {
			t.Fatal(err)
		}
		if p.Metadata[payloadcodec.MetadataEncoding] == nil || string(p.Metadata[payloadcodec.MetadataEncoding]) != payloadcodec.EncodingEncrypted {
			t.Fatalf("summary payload is not encrypted: %v", p.Metadata)
		}
		n := proto.Size(p)
		if n > userMetadataSummarySize-margin {
			t.Errorf("encrypted summary payload is %d bytes, over %d (the server's %d less a %d-byte margin): %.40q…", n, userMetadataSummarySize-margin, userMetadataSummarySize, margin, summary)
		}
		widest = max(widest, n)
	}
	t.Logf("widest encrypted summary: %d bytes of %d", widest, userMetadataSummarySize)
}

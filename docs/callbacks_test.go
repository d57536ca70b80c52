package docs

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// docs/callbacks.md shows the examples as they are (so what a customer
// copies is what CI runs) and explains every reason a video.failed can
// carry.
func TestCallbacksDocumentFollowsTheExamplesAndTheReasons(t *testing.T) {
	raw, err := os.ReadFile("callbacks.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(raw)
	examples := map[string]string{
		"go": "examples/verify/go/main.go", "js": "examples/verify/node/verify.mjs", "python": "examples/verify/python/verify.py",
	}
	shown := map[string]bool{}
	for _, m := range regexp.MustCompile("(?s)```(go|js|python)\n(.*?)```").FindAllStringSubmatch(doc, -1) {
		lang, code := m[1], m[2]
		src, err := os.ReadFile(examples[lang])
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(src), code) {
			t.Errorf("callbacks.md shows %s code that is not in %s:\n%s", lang, examples[lang], code)
		}
		shown[lang] = true
	}
	for lang, file := range examples {
		if !shown[lang] {
			t.Errorf("callbacks.md shows nothing of %s", file)
		}
	}
	for _, r := range contractReasons(t) {
		if !strings.HasPrefix(r, "Callback") && !strings.Contains(doc, "`"+r+"`") {
			t.Errorf("callbacks.md does not explain the reason %s", r)
		}
	}
}

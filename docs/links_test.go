package docs

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode"
)

// linkedDocs are the Markdown documents whose relative links must resolve,
// as paths from the repository root.
var linkedDocs = []string{"README.md", "CONTRIBUTING.md", "BENCHMARKS.md", "deploy/k8s/README.md", "docs/*.md"}

// Every relative link in the documents leads somewhere: its file or
// directory exists, and its #anchor is a heading of the document it names
// (by GitHub's rules for heading ids), so moving a section or renaming a
// heading cannot leave a reader at a dead link.
func TestRelativeLinksResolve(t *testing.T) {
	var docs []string
	for _, pattern := range linkedDocs {
		matches, err := filepath.Glob(filepath.Join("..", pattern))
		if err != nil {
			t.Fatal(err)
		}
		if len(matches) == 0 {
			t.Errorf("no document %s", pattern)
		}
		docs = append(docs, matches...)
	}
	anchors := map[string]map[string]bool{} // by cleaned path
	anchorsOf := func(doc string) map[string]bool {
		if a, ok := anchors[doc]; ok {
			return a
		}
		raw, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		anchors[doc] = headingAnchors(string(raw))
		return anchors[doc]
	}
	checked := 0
	for _, doc := range docs {
		raw, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range relativeLinks(string(raw)) {
			checked++
			target, anchor, _ := strings.Cut(l.target, "#")
			resolved := filepath.Clean(doc)
			if target != "" {
				resolved = filepath.Join(filepath.Dir(doc), target)
				if _, err := os.Stat(resolved); err != nil {
					t.Errorf("%s:%d: link to %s: no such file or directory", doc, l.line, l.target)
					continue
				}
			}
			if anchor == "" {
				continue
			}
			if !strings.HasSuffix(resolved, ".md") {
				t.Errorf("%s:%d: link to %s: an anchor into a file that is not Markdown", doc, l.line, l.target)
				continue
			}
			if !anchorsOf(resolved)[anchor] {
				t.Errorf("%s:%d: link to %s: %s has no heading with the id %q", doc, l.line, l.target, resolved, anchor)
			}
		}
	}
	if checked == 0 {
		t.Fatal("found no relative links at all: the link pattern is broken")
	}
}

// link is one relative link: its target as written and its line.
type link struct {
	target string
	line   int
}

var (
	markdownLink = regexp.MustCompile(`\]\(([^)\s]+)(?:\s+"[^"]*")?\)`)
	codeSpan     = regexp.MustCompile("`[^`]*`")
	fence        = regexp.MustCompile("^\\s*(```|~~~)")
)

// relativeLinks finds the Markdown links `[text](target)` outside code
// blocks and code spans whose target is not an absolute URL.
func relativeLinks(doc string) []link {
	var links []link
	inFence := false
	for i, line := range strings.Split(doc, "\n") {
		if fence.MatchString(line) {
			inFence = !inFence
			continue
		}
		if inFence {
			continue
		}
		for _, m := range markdownLink.FindAllStringSubmatch(codeSpan.ReplaceAllString(line, ""), -1) {
			target := strings.Trim(m[1], "<>")
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			links = append(links, link{target: target, line: i + 1})
		}
	}
	return links
}

var (
	headingLine = regexp.MustCompile(`^#{1,6}\s+(.*?)\s*#*\s*$`)
	inlineLink  = regexp.MustCompile(`!?\[([^\]]*)\]\([^)]*\)`)
)

// headingAnchors returns the ids GitHub gives the headings of doc: the
// heading's text without its Markdown, lower-cased, without punctuation
// (anything but letters, digits, marks, '-', '_' and spaces), each space a
// '-'; a repeated id gets "-1", "-2"… in order.
func headingAnchors(doc string) map[string]bool {
	ids := map[string]bool{}
	seen := map[string]int{}
	inFence := false
	for _, line := range strings.Split(doc, "\n") {
		if fence.MatchString(line) {
			inFence = !inFence
			continue
		}
		m := headingLine.FindStringSubmatch(line)
		if inFence || m == nil {
			continue
		}
		id := slug(m[1])
		if n := seen[id]; n > 0 {
			seen[id] = n + 1
			id += "-" + strconv.Itoa(n)
		} else {
			seen[id] = 1
		}
		ids[id] = true
	}
	return ids
}

func slug(heading string) string {
	text := inlineLink.ReplaceAllString(heading, "$1")
	var b strings.Builder
	for _, r := range strings.ToLower(text) {
		switch {
		case r == ' ':
			b.WriteRune('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

// The ids GitHub gives headings, as README's own links used them.
func TestSlugFollowsGitHub(t *testing.T) {
	for heading, want := range map[string]string{
		"Transfers: integrity, limits, resume":              "transfers-integrity-limits-resume",
		"Callbacks (for your backend)":                      "callbacks-for-your-backend",
		"`video.stored`":                                    "videostored",
		"Stopping: why the grace periods are what they are": "stopping-why-the-grace-periods-are-what-they-are",
		"Try the production processes against `dev`":        "try-the-production-processes-against-dev",
		"Keys — in phases":                                  "keys--in-phases",
		"See [design](design.md), then":                     "see-design-then",
	} {
		if got := slug(heading); got != want {
			t.Errorf("slug(%q) = %q, want %q", heading, got, want)
		}
	}
	ids := headingAnchors("# A\n## A\n```\n# A\n```\n### A\n")
	for _, want := range []string{"a", "a-1", "a-2"} {
		if !ids[want] {
			t.Errorf("headingAnchors: no %q in %v", want, ids)
		}
	}
	if ids["a-3"] {
		t.Errorf("headingAnchors counted a heading inside a code block: %v", ids)
	}
}

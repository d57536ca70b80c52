// Command dockerfilecheck checks the Dockerfile's shape offline, with
// BuildKit's own parser, since CI has no Docker engine to build it:
//
//   - the default target (the last stage) is "production", and the stages
//     it needs run exactly one compile: go build -tags production, whose
//     output is what the production image copies; the dev/demo binary is
//     built in a stage only the "demo" target needs;
//   - every go command in those stages uses BuildKit cache mounts for the
//     module cache (/go/pkg/mod), and every compile for the build cache
//     (/root/.cache/go-build);
//   - both images carry the OCI labels (title, description, source,
//     version, revision, created), with version, revision and created from
//     build args declared in their stage (an ARG declared in another stage
//     would expand to nothing);
//   - the VCS revision reaches the binary: .dockerignore leaves .git out,
//     so Go cannot stamp it (-buildvcs), and the build passes REVISION into
//     -X main.version instead;
//   - ARG GO_TOOLCHAIN is set (.ci/production-build scans that Go release);
//   - docker-compose.yml pins every image, and runs the Temporal server,
//     admin tools, Web UI and GCS emulator releases go.mod names (compose.go).
//
// Usage: dockerfilecheck [Dockerfile [.dockerignore]] (default: the
// repository's, and its docker-compose.yml and go.mod). It exits 1 and
// names each problem.
package main

import (
	"bufio"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/parser"
)

func main() {
	dockerfile, ignore := "../../Dockerfile", "../../.dockerignore"
	if len(os.Args) > 1 {
		dockerfile = os.Args[1]
		ignore = filepath.Join(filepath.Dir(dockerfile), ".dockerignore")
	}
	if len(os.Args) > 2 {
		ignore = os.Args[2]
	}
	f, err := os.Open(dockerfile)
	if err != nil {
		fmt.Fprintln(os.Stderr, "dockerfilecheck:", err)
		os.Exit(2)
	}
	defer f.Close()
	ignored, err := readIgnore(ignore)
	if err != nil {
		fmt.Fprintln(os.Stderr, "dockerfilecheck:", err)
		os.Exit(2)
	}
	problems, err := check(f, ignored)
	if err != nil {
		fmt.Fprintln(os.Stderr, "dockerfilecheck:", err)
		os.Exit(2)
	}
	for i := range problems {
		problems[i] = dockerfile + ": " + problems[i]
	}
	if len(os.Args) == 1 {
		compose, err1 := os.ReadFile("../../docker-compose.yml")
		gomod, err2 := os.ReadFile("../../go.mod")
		if err1 != nil || err2 != nil {
			fmt.Fprintln(os.Stderr, "dockerfilecheck:", err1, err2)
			os.Exit(2)
		}
		problems = append(problems, composeImages(string(compose), string(gomod))...)
	}
	for _, p := range problems {
		fmt.Println("dockerfilecheck: " + p)
	}
	if len(problems) > 0 {
		os.Exit(1)
	}
	fmt.Println("dockerfilecheck: the production target builds only the production binary, with cache mounts, OCI labels and the revision; docker-compose.yml's images are pinned and match go.mod")
}

func readIgnore(path string) ([]string, error) {
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []string
	s := bufio.NewScanner(f)
	for s.Scan() {
		if line := strings.TrimSpace(s.Text()); line != "" && !strings.HasPrefix(line, "#") {
			out = append(out, strings.TrimPrefix(line, "/"))
		}
	}
	return out, s.Err()
}

const (
	modCache   = "/go/pkg/mod"
	buildCache = "/root/.cache/go-build"
)

var requiredLabels = map[string]string{
	"org.opencontainers.image.title":       "",
	"org.opencontainers.image.description": "",
	"org.opencontainers.image.source":      "",
	"org.opencontainers.image.version":     "VERSION",
	"org.opencontainers.image.revision":    "REVISION",
	"org.opencontainers.image.created":     "CREATED",
}

type instruction struct {
	cmd   string // lower case: from, run, copy, label, arg…
	flags []string
	args  []string
	line  int
}

type stage struct {
	name, base string
	index      int
	body       []instruction
}

func (s *stage) String() string { return fmt.Sprintf("stage %q", s.name) }

func parse(r io.Reader) ([]*stage, error) {
	res, err := parser.Parse(r)
	if err != nil {
		return nil, err
	}
	var stages []*stage
	for _, n := range res.AST.Children {
		in := instruction{cmd: strings.ToLower(n.Value), flags: n.Flags, line: n.StartLine}
		for a := n.Next; a != nil; a = a.Next {
			in.args = append(in.args, a.Value)
		}
		if in.cmd == "from" {
			s := &stage{index: len(stages)}
			if len(in.args) > 0 {
				s.base = in.args[0]
			}
			if len(in.args) == 3 && strings.EqualFold(in.args[1], "as") {
				s.name = strings.ToLower(in.args[2])
			}
			stages = append(stages, s)
			continue
		}
		if len(stages) == 0 {
			continue // ARGs before the first FROM
		}
		s := stages[len(stages)-1]
		s.body = append(s.body, in)
	}
	return stages, nil
}

func flagValue(flags []string, name string) []string {
	var out []string
	for _, f := range flags {
		if v, ok := strings.CutPrefix(f, "--"+name+"="); ok {
			out = append(out, v)
		}
	}
	return out
}

// mounts parses --mount=type=cache,target=/x,… into key/value maps.
func mounts(flags []string) []map[string]string {
	var out []map[string]string
	for _, v := range flagValue(flags, "mount") {
		m := map[string]string{}
		for _, kv := range strings.Split(v, ",") {
			k, val, _ := strings.Cut(kv, "=")
			m[strings.ToLower(k)] = val
		}
		out = append(out, m)
	}
	return out
}

func hasCache(in instruction, target string) bool {
	return slices.ContainsFunc(mounts(in.flags), func(m map[string]string) bool {
		return m["type"] == "cache" && (m["target"] == target || m["dst"] == target || m["destination"] == target)
	})
}

// closure is the stage and every stage it needs (FROM, COPY --from,
// RUN --mount=from=), in Dockerfile order.
func closure(stages []*stage, target *stage) []*stage {
	byRef := func(ref string) *stage {
		for _, s := range stages {
			if s.name == strings.ToLower(ref) || fmt.Sprint(s.index) == ref {
				return s
			}
		}
		return nil
	}
	seen := map[*stage]bool{}
	var visit func(*stage)
	visit = func(s *stage) {
		if s == nil || seen[s] {
			return
		}
		seen[s] = true
		visit(byRef(s.base))
		for _, in := range s.body {
			for _, from := range flagValue(in.flags, "from") {
				visit(byRef(from))
			}
			for _, m := range mounts(in.flags) {
				if m["from"] != "" {
					visit(byRef(m["from"]))
				}
			}
		}
	}
	visit(target)
	var out []*stage
	for _, s := range stages {
		if seen[s] {
			out = append(out, s)
		}
	}
	return out
}

var (
	goCommand = regexp.MustCompile(`(^|[\s;&|(])go\s+(build|install|run|test|vet|generate|mod|get|list)\b`)
	goCompile = regexp.MustCompile(`(^|[\s;&|(])go\s+(build|install|run|test|vet|generate)\b`)
	goBuild   = regexp.MustCompile(`(^|[\s;&|(])go\s+build\b([^;&|]*)`)
	tagsFlag  = regexp.MustCompile(`-tags[= ]("[^"]*"|'[^']*'|\S+)`)
	outFlag   = regexp.MustCompile(`\s-o[= ](\S+)`)
	argRef    = regexp.MustCompile(`\$\{?(\w+)`)
	// -X main.version=VALUE, VALUE up to the closing quote of -ldflags.
	versionFlag = regexp.MustCompile(`-X[= ]main\.version=([^"' ]+)`)
)

// fromRevision reports whether value, the -X main.version value, carries
// $REVISION: directly, or through a shell variable the same RUN assigns
// from it.
func fromRevision(value, cmd string) bool {
	if strings.Contains(value, "REVISION") {
		return true
	}
	m := regexp.MustCompile(`^\$\{?(\w+)\}?$`).FindStringSubmatch(value)
	if m == nil {
		return false
	}
	assign := regexp.MustCompile(`(^|[\s;&])` + regexp.QuoteMeta(m[1]) + `=("[^"]*"|'[^']*'|\S+)`).FindStringSubmatch(cmd)
	return assign != nil && strings.Contains(assign[2], "REVISION")
}

func check(r io.Reader, dockerignore []string) ([]string, error) {
	stages, err := parse(r)
	if err != nil {
		return nil, err
	}
	var problems []string
	fail := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	find := func(name string) *stage {
		for _, s := range stages {
			if s.name == name {
				return s
			}
		}
		return nil
	}

	if len(stages) == 0 {
		return []string{"no stages"}, nil
	}
	prod, demo := find("production"), find("demo")
	if prod == nil || demo == nil {
		fail("want a stage named production and one named demo")
		return problems, nil
	}
	if stages[len(stages)-1] != prod {
		fail("the last stage (the default target) is %q, want production", stages[len(stages)-1].name)
	}

	// The production target compiles one thing: the production binary.
	prodStages := closure(stages, prod)
	type compile struct {
		in  instruction
		cmd string
	}
	var compiles []compile
	for _, s := range prodStages {
		for _, in := range s.body {
			cmd := strings.Join(in.args, " ")
			if in.cmd != "run" {
				continue
			}
			for range goCompile.FindAllStringIndex(cmd, -1) {
				compiles = append(compiles, compile{in, cmd})
			}
		}
	}
	var buildOut string
	switch len(compiles) {
	case 0:
		fail("the production target runs no go build")
	case 1:
		in, cmd := compiles[0].in, compiles[0].cmd
		build := goBuild.FindStringSubmatch(cmd)
		if build == nil {
			fail("line %d: the production target compiles with something else than go build: %s", in.line, cmd)
			break
		}
		args := build[2]
		tags := tagsFlag.FindStringSubmatch(args)
		if tags == nil || !slices.Contains(strings.Split(strings.Trim(tags[1], `"'`), ","), "production") {
			fail("line %d: the production target's go build lacks -tags production: %s", in.line, cmd)
		}
		if o := outFlag.FindStringSubmatch(args); o != nil {
			buildOut = o[1]
		}
		version := versionFlag.FindStringSubmatch(args)
		switch {
		case version == nil:
			fail("line %d: the production build does not set -X main.version", in.line)
		case slices.Contains(dockerignore, ".git") && !fromRevision(version[1], cmd):
			fail("line %d: .dockerignore leaves .git out, so Go cannot stamp the VCS revision; -X main.version=%s must carry the REVISION build arg", in.line, version[1])
		}
	default:
		var where []string
		for _, c := range compiles {
			where = append(where, fmt.Sprint(c.in.line))
		}
		fail("the production target compiles %d times (lines %s): it must build only the production binary; put the others in stages only their target needs", len(compiles), strings.Join(where, ", "))
	}
	if buildOut != "" {
		copied := slices.ContainsFunc(prod.body, func(in instruction) bool {
			return in.cmd == "copy" && len(flagValue(in.flags, "from")) > 0 && len(in.args) > 0 && in.args[0] == buildOut
		})
		if !copied {
			fail("the production image does not copy %s, the production build's output", buildOut)
		}
	}

	// Cache mounts on every go command of either target.
	seen := map[*stage]bool{}
	for _, s := range append(prodStages, closure(stages, demo)...) {
		if seen[s] {
			continue
		}
		seen[s] = true
		for _, in := range s.body {
			cmd := strings.Join(in.args, " ")
			if in.cmd != "run" || !goCommand.MatchString(cmd) {
				continue
			}
			if !hasCache(in, modCache) {
				fail("line %d (%s): go without a cache mount for the module cache (--mount=type=cache,target=%s)", in.line, s, modCache)
			}
			if goCompile.MatchString(cmd) && !hasCache(in, buildCache) {
				fail("line %d (%s): go compiles without a cache mount for the build cache (--mount=type=cache,target=%s)", in.line, s, buildCache)
			}
		}
	}

	// OCI labels, from ARGs declared in the stage.
	for _, s := range []*stage{prod, demo} {
		labels := map[string]string{}
		args := map[string]bool{}
		for _, in := range s.body {
			switch in.cmd {
			case "arg":
				for _, a := range in.args {
					name, _, _ := strings.Cut(a, "=")
					args[name] = true
				}
			case "label":
				for i := 0; i+1 < len(in.args); i += 3 {
					k := strings.Trim(in.args[i], `"`)
					v := strings.Trim(in.args[i+1], `"`)
					labels[k] = v
					for _, ref := range argRef.FindAllStringSubmatch(v, -1) {
						if !args[ref[1]] {
							fail("line %d (%s): label %s uses ${%s}, which is not an ARG of this stage (it would be empty)", in.line, s, k, ref[1])
						}
					}
				}
			}
		}
		for _, k := range slices.Sorted(maps.Keys(requiredLabels)) {
			arg := requiredLabels[k]
			v, ok := labels[k]
			switch {
			case !ok || v == "":
				fail("%s has no label %s", s, k)
			case arg != "" && !strings.Contains(v, "${"+arg+"}") && !strings.Contains(v, "$"+arg):
				fail("%s: label %s is %q, want it from the build arg %s", s, k, v, arg)
			}
		}
	}

	// The toolchain line .ci/production-build reads.
	toolchain := false
	for _, s := range stages {
		for _, in := range s.body {
			if in.cmd == "arg" && len(in.args) == 1 && strings.HasPrefix(in.args[0], "GO_TOOLCHAIN=go") {
				toolchain = true
			}
		}
	}
	if !toolchain {
		fail("no ARG GO_TOOLCHAIN=go1.x.y (.ci/production-build scans that release)")
	}
	return problems, nil
}

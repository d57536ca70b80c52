package main

import (
	"os"
	"strings"
	"testing"
)

// The repository's Dockerfile passes; each variant that breaks one property
// is refused with a message naming it. Every case is a mutation of the real
// file (the replacement must apply, so the test cannot pass vacuously), or
// the Dockerfile as it was before issue 21 (one build stage compiling both
// binaries, no cache mounts, no labels).
func TestDockerfile(t *testing.T) {
	b, err := os.ReadFile("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	real := string(b)
	ignore, err := readIgnore("../../.dockerignore")
	if err != nil {
		t.Fatal(err)
	}
	if problems, err := check(strings.NewReader(real), ignore); err != nil || len(problems) > 0 {
		t.Fatalf("the repository's Dockerfile: %v %q", err, problems)
	}

	before, err := os.ReadFile("testdata/before-issue-21.Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	mutate := func(old, new string) string {
		t.Helper()
		if strings.Count(real, old) == 0 {
			t.Fatalf("the Dockerfile no longer contains %q: update this test", old)
		}
		return strings.Replace(real, old, new, 1)
	}
	prodBuild := `go build -tags production -buildvcs=false`
	for _, tc := range []struct {
		name, dockerfile, want string
	}{
		{"before issue 21", string(before), "the production target compiles 2 times"},
		{"no production tag", mutate(prodBuild, `go build -buildvcs=false`), "lacks -tags production"},
		{"production image takes the demo build", mutate("COPY --from=build-production /out/wochit-ingest ", "COPY --from=build-demo /out/wochit-ingest-demo "),
			"lacks -tags production"},
		{"second compile in the production target", mutate(prodBuild, `go vet . && go build -tags production -buildvcs=false`), "compiles"},
		{"no build cache", mutate("    --mount=type=cache,target=/root/.cache/go-build \\\n    v=\"${VERSION}${REVISION:++}$(printf '%.12s' \"${REVISION}\")\" && \\\n    go build -tags production",
			"    v=\"${VERSION}${REVISION:++}$(printf '%.12s' \"${REVISION}\")\" && \\\n    go build -tags production"), "without a cache mount for the build cache"},
		{"no module cache on go mod download", mutate("RUN --mount=type=cache,target=/go/pkg/mod \\\n    go mod download", "RUN go mod download"), "without a cache mount for the module cache"},
		{"no source label", mutate("      org.opencontainers.image.source=\"https://github.com/wochit-ingest/wochit-ingest\" \\\n", ""), "has no label org.opencontainers.image.source"},
		{"revision label from an ARG of another stage", mutate("FROM gcr.io/distroless/static-debian12:nonroot AS production\nARG VERSION=devel\nARG REVISION=\n",
			"FROM gcr.io/distroless/static-debian12:nonroot AS production\nARG VERSION=devel\n"), "uses ${REVISION}, which is not an ARG of this stage"},
		{"revision not passed to the build", mutate(`go build -tags production -buildvcs=false -trimpath -ldflags "-s -w -X main.version=${v}"`,
			`go build -tags production -buildvcs=false -trimpath -ldflags "-s -w -X main.version=${VERSION}"`), "must carry the REVISION build arg"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			problems, err := check(strings.NewReader(tc.dockerfile), ignore)
			if err != nil {
				t.Fatal(err)
			}
			joined := strings.Join(problems, "\n")
			if len(problems) == 0 || !strings.Contains(joined, tc.want) {
				t.Errorf("problems %q, want one containing %q", problems, tc.want)
			}
		})
	}
}

// docker-compose.yml runs the Temporal, UI and emulator releases go.mod
// names, and pins every image. Mutations: a compose tag one release off,
// an unpinned image.
func TestComposeImages(t *testing.T) {
	compose, err := os.ReadFile("../../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	gomod, err := os.ReadFile("../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	if problems := composeImages(string(compose), string(gomod)); len(problems) > 0 {
		t.Fatalf("the repository's docker-compose.yml: %q", problems)
	}
	for _, tc := range []struct{ old, new, want string }{
		{"temporalio/admin-tools:" + strings.TrimPrefix(moduleVersion(string(gomod), "go.temporal.io/server"), "v"), "temporalio/admin-tools:1.0.0", "temporalio/admin-tools is 1.0.0, but go.mod's go.temporal.io/server is"},
		{"temporalio/ui:", "temporalio/ui:9.9.9 #", "temporalio/ui is 9.9.9"},
		{"image: postgres:", "image: postgres #", "image postgres is not pinned"},
	} {
		if !strings.Contains(string(compose), tc.old) {
			t.Fatalf("docker-compose.yml no longer contains %q: update this test", tc.old)
		}
		mutated := strings.Replace(string(compose), tc.old, tc.new, 1)
		problems := composeImages(mutated, string(gomod))
		if !strings.Contains(strings.Join(problems, "\n"), tc.want) {
			t.Errorf("%s → %s: problems %q, want %q", tc.old, tc.new, problems, tc.want)
		}
	}
}

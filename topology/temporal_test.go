//go:build topology

package topology

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"google.golang.org/protobuf/types/known/durationpb"
)

// binaries are the programs the topology runs, built once per test run.
type binaries struct {
	wochitIngest, temporalServer, sqlTool string
	schemaDir                             string // the server module's schema/postgresql/v12
	builtAt                               time.Time
}

// buildBinaries builds wochit-ingest from this checkout, and the Temporal
// server and its SQL tool from the module cache at the version go.mod pins.
// The server's command-line packages need two modules the project does not
// (urfave/cli), so they are built against a copy of go.mod and go.sum that
// the go command may complete: the project's own files stay untouched.
func buildBinaries(t *testing.T, dir string) binaries {
	t.Helper()
	root := strings.TrimSuffix(goOutput(t, "", "env", "GOMOD"), "/go.mod")
	if root == "" || root == "/dev/null" {
		t.Fatal("not inside the wochit-ingest module")
	}
	for _, f := range []string{"go.mod", "go.sum"} {
		b, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "server."+strings.TrimPrefix(f, "go.")), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b := binaries{
		wochitIngest:   filepath.Join(dir, "wochit-ingest"),
		temporalServer: filepath.Join(dir, "temporal-server"),
		sqlTool:        filepath.Join(dir, "temporal-sql-tool"),
	}
	started := time.Now()
	goOutput(t, root, "build", "-o", b.wochitIngest, ".")
	serverMod := []string{"build", "-mod=mod", "-modfile=" + filepath.Join(dir, "server.mod")}
	goOutput(t, root, append(serverMod, "-o", b.temporalServer, "go.temporal.io/server/cmd/server")...)
	goOutput(t, root, append(serverMod, "-o", b.sqlTool, "go.temporal.io/server/cmd/tools/sql")...)
	b.schemaDir = filepath.Join(goOutput(t, root, "list", "-m", "-f", "{{.Dir}}", "go.temporal.io/server"), "schema", "postgresql", "v12")
	b.builtAt = time.Now()
	t.Logf("built wochit-ingest, temporal-server (%s) and temporal-sql-tool in %s", goOutput(t, root, "list", "-m", "-f", "{{.Version}}", "go.temporal.io/server"), time.Since(started).Round(time.Second))
	return b
}

func goOutput(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("go", args...)
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, stderr)
	}
	return strings.TrimSpace(string(out))
}

// applySchemas creates Temporal's two databases on pg and applies their
// schemas with the server's SQL tool, as an operator would.
func applySchemas(t *testing.T, b binaries, pg *postgres) {
	t.Helper()
	for _, db := range []struct{ name, schema string }{{"temporal", "temporal"}, {"temporal_visibility", "visibility"}} {
		base := []string{"--ep", "127.0.0.1", "-p", fmt.Sprint(pg.port), "-u", "postgres", "--pl", "postgres12", "--db", db.name}
		for _, step := range [][]string{
			{"create-database"},
			{"setup-schema", "-v", "0.0"},
			{"update-schema", "-d", filepath.Join(b.schemaDir, db.schema, "versioned")},
		} {
			cmd := exec.Command(b.sqlTool, append(base, step...)...)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("temporal-sql-tool %s on %s: %v\n%s", step[0], db.name, err, out)
			}
		}
	}
}

// temporalServer is `temporal-server start` with a config file the test
// writes: every service in one process, persistence and visibility on pg.
type temporalServer struct {
	bin, configFile string
	frontend        string // gRPC host:port
	logs            *logDir
	proc            *proc
}

func newTemporalServer(t *testing.T, b binaries, dir string, pg *postgres, logs *logDir) *temporalServer {
	t.Helper()
	p := freeLowPorts(t, 9)
	s := &temporalServer{bin: b.temporalServer, configFile: filepath.Join(dir, "temporal.yaml"), frontend: fmt.Sprintf("127.0.0.1:%d", p[0]), logs: logs}
	dynamic := filepath.Join(dir, "dynamicconfig.yaml")
	// Search attributes registered by `wochit-ingest setup` are usable at once.
	if err := os.WriteFile(dynamic, []byte("system.forceSearchAttributesCacheRefreshOnRead:\n  - value: true\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	store := func(db string, conns int) string {
		return fmt.Sprintf(`      sql:
        pluginName: postgres12
        databaseName: %s
        connectAddr: %q
        connectProtocol: tcp
        user: postgres
        maxConns: %d
        maxIdleConns: %d
        maxConnLifetime: 1h
`, db, pg.addr(), conns, conns)
	}
	service := func(grpc, membership, http int) string {
		s := fmt.Sprintf("    rpc:\n      grpcPort: %d\n      membershipPort: %d\n      bindOnIP: 127.0.0.1\n", grpc, membership)
		if http != 0 {
			s += fmt.Sprintf("      httpPort: %d\n", http)
		}
		return s
	}
	conf := `log:
  stdout: true
  level: warn
persistence:
  defaultStore: default
  visibilityStore: visibility
  numHistoryShards: 4
  datastores:
    default:
` + store("temporal", 20) + `    visibility:
` + store("temporal_visibility", 10) + `global:
  membership:
    maxJoinDuration: 30s
    broadcastAddress: 127.0.0.1
services:
  frontend:
` + service(p[0], p[1], p[2]) + `  history:
` + service(p[3], p[4], 0) + `  matching:
` + service(p[5], p[6], 0) + `  worker:
` + service(p[7], p[8], 0) + `clusterMetadata:
  enableGlobalNamespace: false
  failoverVersionIncrement: 10
  masterClusterName: active
  currentClusterName: active
  clusterInformation:
    active:
      enabled: true
      initialFailoverVersion: 1
      rpcName: frontend
      rpcAddress: "` + s.frontend + `"
dcRedirectionPolicy:
  policy: noop
archival:
  history:
    state: disabled
  visibility:
    state: disabled
namespaceDefaults:
  archival:
    history:
      state: disabled
    visibility:
      state: disabled
publicClient:
  hostPort: "` + s.frontend + `"
dynamicConfigClient:
  filepath: "` + dynamic + `"
  pollInterval: 10s
`
	if err := os.WriteFile(s.configFile, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	return s
}

// start runs a new server process and returns once its frontend answers a
// health check.
func (s *temporalServer) start(t *testing.T) {
	t.Helper()
	cmd := exec.Command(s.bin, "--config-file", s.configFile, "--allow-no-auth", "start")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	s.proc = s.logs.start(t, "temporal-server", cmd, syscall.SIGKILL)
	waitFor(t, 2*time.Minute, "the Temporal server to serve", func() bool {
		if s.proc.exited() {
			t.Fatalf("the Temporal server exited: %v\n%s", s.proc.err, tail(s.proc.logPath, 30))
		}
		return s.healthy()
	})
}

// healthy asks the frontend's gRPC health service.
func (s *temporalServer) healthy() bool {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	c, err := client.DialContext(ctx, client.Options{HostPort: s.frontend, Logger: quietSDKLogger})
	if err != nil {
		return false
	}
	defer c.Close()
	_, err = c.CheckHealth(ctx, &client.CheckHealthRequest{})
	return err == nil
}

// kill ends the server process with SIGKILL, as a crash or an OOM kill
// would, and returns once it has exited.
func (s *temporalServer) kill(t *testing.T) {
	t.Helper()
	if err := s.proc.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := s.proc.waitExit(t, time.Minute); !killedBy(err, syscall.SIGKILL) {
		t.Fatalf("the Temporal server ended with %v, not by SIGKILL", err)
	}
}

// registerNamespace creates the namespace wochit-ingest uses, and waits
// until the frontend serves it (its namespace cache refreshes on a timer).
func registerNamespace(t *testing.T, c client.Client, frontend, namespace string) {
	t.Helper()
	nc, err := client.NewNamespaceClient(client.Options{HostPort: frontend, Logger: quietSDKLogger})
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = nc.Register(ctx, &workflowservice.RegisterNamespaceRequest{
		Namespace: namespace, WorkflowExecutionRetentionPeriod: durationpb.New(72 * time.Hour),
	})
	if _, exists := err.(*serviceerror.NamespaceAlreadyExists); err != nil && !exists {
		t.Fatalf("registering namespace %s: %v", namespace, err)
	}
	waitFor(t, time.Minute, "the namespace to be served", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		_, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Namespace: namespace, PageSize: 1})
		return err == nil
	})
}

//go:build topology

package topology

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
)

func startTopology(t *testing.T) *topology {
	t.Helper()
	dir, err := os.MkdirTemp("", "topology-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if os.Getenv("TOPOLOGY_KEEP") != "" {
			t.Logf("kept %s", dir)
			return
		}
		os.RemoveAll(dir)
	})
	tp := &topology{dir: dir, logs: &logDir{dir: filepath.Join(dir, "logs")}}
	if err := os.Mkdir(tp.logs.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	tp.logs.dumpOnFailure(t)
	binDir := filepath.Join(dir, "bin")
	if err := os.Mkdir(binDir, 0o755); err != nil {
		t.Fatal(err)
	}
	tp.bins = buildBinaries(t, binDir)

	// PostgreSQL, the schemas, the Temporal server, the namespace.
	step := time.Now()
	tp.pg = newPostgres(t, dir, freeLowPorts(t, 1)[0], tp.logs)
	tp.pg.start(t)
	applySchemas(t, tp.bins, tp.pg)
	t.Logf("PostgreSQL up on %s with Temporal's schemas in %s", tp.pg.addr(), fmtDur(time.Since(step)))
	step = time.Now()
	tp.temporal = newTemporalServer(t, tp.bins, dir, tp.pg, tp.logs)
	tp.temporal.start(t)
	tp.client, err = client.Dial(client.Options{HostPort: tp.temporal.frontend, Namespace: namespace, Logger: quietSDKLogger})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tp.client.Close)
	registerNamespace(t, tp.client, tp.temporal.frontend, namespace)
	setup := exec.Command(tp.bins.wochitIngest, "setup")
	setup.Env = tp.baseEnv()
	if out, err := setup.CombinedOutput(); err != nil {
		t.Fatalf("wochit-ingest setup: %v\n%s", err, out)
	} else {
		t.Logf("Temporal server on %s (PostgreSQL persistence and visibility) in %s; setup: %s", tp.temporal.frontend, fmtDur(time.Since(step)), strings.TrimSpace(string(out)))
	}

	// In this process: the origin, the GCS emulator on disk, the receiver.
	tp.origin = newTrackedOrigin()
	tp.originURL = serve(t, tp.origin)
	tp.startGCS(t)
	secret, err := parseWebhookSecret(callbackSecret)
	if err != nil {
		t.Fatal(err)
	}
	tp.receiver = newReceiver(secret)
	tp.hookURL = serve(t, tp.receiver) + "/hooks/wochit"

	// Two workers and two ingresses of the real binary, configured by
	// environment as README documents.
	ports := freeLowPorts(t, 6)
	for i := range 2 {
		tp.workerAddrs[i] = fmt.Sprintf("127.0.0.1:%d", ports[i])
		tp.ingressAddrs[i] = fmt.Sprintf("127.0.0.1:%d", ports[2+i])
		tp.ingressURLs[i] = "http://" + tp.ingressAddrs[i]
		tp.adminURLs[i] = fmt.Sprintf("http://127.0.0.1:%d", ports[4+i])
	}
	outbound := portOf(tp.originURL) + "," + portOf(tp.hookURL)
	tp.workerEnv = append(tp.baseEnv(),
		"GCS_BUCKET="+bucket, "GCS_PREFIX="+prefix, "STORAGE_EMULATOR_HOST="+tp.gcsURL,
		"CALLBACK_URL="+tp.hookURL, "CALLBACK_SECRET="+callbackSecret,
		"ORIGIN_ALLOW_PRIVATE=true", "CALLBACK_ALLOW_PRIVATE=true", "OUTBOUND_ALLOWED_PORTS="+outbound,
		"WORKER_STOP_TIMEOUT=2s", "TRANSFER_PART_SIZE="+partSize, "TRANSFER_PART_CONCURRENCY="+strconv.Itoa(partsAtOnce),
	)
	tp.ingressEnv = append(tp.baseEnv(),
		"INGRESS_ALLOWLIST=off", "INGRESS_ALLOW_HTTP_URLS=true",
		// The inbox, in the workers' bucket (issue 20).
		"GCS_BUCKET="+bucket, "GCS_PREFIX="+prefix, "STORAGE_EMULATOR_HOST="+tp.gcsURL,
		"ORIGIN_ALLOW_PRIVATE=true", "OUTBOUND_ALLOWED_PORTS="+portOf(tp.originURL),
		// One test client stands in for all of Wochit's addresses.
		"INGRESS_RATE_LIMIT=0",
	)
	for i := range 2 {
		tp.startWorker(t, i)
		tp.startIngress(t, i)
	}
	for i := range 2 {
		tp.waitWorkerReady(t, i)
		waitFor(t, time.Minute, fmt.Sprintf("ingress %d to be ready", i+1), func() bool { return httpOK(tp.adminURLs[i] + "/readyz") })
	}
	return tp
}

// baseEnv is what every wochit-ingest process gets: nothing inherited from
// the test's own environment but PATH and HOME, so a developer's
// TEMPORAL_* settings cannot leak in.
func (tp *topology) baseEnv() []string {
	return []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"),
		"TEMPORAL_ADDRESS=" + tp.temporal.frontend, "TEMPORAL_NAMESPACE=" + namespace,
		// Payloads encrypted as in production (a key for this test only).
		"PAYLOAD_KEYS=topology:dG9wb2xvZ3ktdGVzdC1wYXlsb2FkLWtleS0zMmJ5dGU=",
		"LOG_LEVEL=info",
	}
}

func (tp *topology) startWorker(t *testing.T, i int) {
	cmd := exec.Command(tp.bins.wochitIngest, "worker")
	cmd.Env = append(slices.Clone(tp.workerEnv), "WORKER_HTTP_ADDR="+tp.workerAddrs[i])
	tp.workers[i] = tp.logs.start(t, fmt.Sprintf("worker-%d", i+1), cmd, syscall.SIGKILL)
}

func (tp *topology) waitWorkerReady(t *testing.T, i int) {
	waitFor(t, time.Minute, fmt.Sprintf("worker %d to be ready", i+1), func() bool {
		if tp.workers[i].exited() {
			t.Fatalf("worker %d exited: %v\n%s", i+1, tp.workers[i].err, tail(tp.workers[i].logPath, 20))
		}
		return httpOK("http://" + tp.workerAddrs[i] + "/readyz")
	})
}

func (tp *topology) startIngress(t *testing.T, i int) {
	cmd := exec.Command(tp.bins.wochitIngest, "ingress")
	cmd.Env = append(slices.Clone(tp.ingressEnv), "INGRESS_ADDR="+tp.ingressAddrs[i], "INGRESS_ADMIN_ADDR="+strings.TrimPrefix(tp.adminURLs[i], "http://"))
	tp.ingresses[i] = tp.logs.start(t, fmt.Sprintf("ingress-%d", i+1), cmd, syscall.SIGKILL)
}

func listen(t *testing.T) net.Listener {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// serve serves h on a loopback port until the test ends and returns its URL.
func serve(t *testing.T, h http.Handler) string {
	l := listen(t)
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return "http://" + l.Addr().String()
}

func portOf(rawURL string) string {
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(rawURL, "http://"))
	if i := strings.IndexByte(port, '/'); i >= 0 {
		port = port[:i]
	}
	return port
}

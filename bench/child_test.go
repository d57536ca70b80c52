package bench

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/wochit-ingest/wochit-ingest/contract"

	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/testsuite"

	"github.com/wochit-ingest/wochit-ingest/activities"
	"github.com/wochit-ingest/wochit-ingest/devstack/gcsemu"
	"github.com/wochit-ingest/wochit-ingest/internal/safehttp"
)

// Child mode: the benchmark binary re-runs itself with childEnv set to
// "transfer" (TransferToGCS), "relay" (one GET → one storage writer) or
// "ranged-relay" (the same parallel ranged parts as TransferToGCS, composed),
// copying each of the URLs in BENCH_URLS concurrently into the sink.
// BENCH_CPUPROFILE and BENCH_BLOCKPROFILE name files the child writes its
// CPU and blocking profiles to (go tool pprof reads them with the test
// binary): where a copy spends its time, in the child alone.
const childEnv = "WOCHIT_BENCH_CHILD"

func TestMain(m *testing.M) {
	if mode := os.Getenv(childEnv); mode != "" {
		if err := runChild(mode); err != nil {
			fmt.Fprintln(os.Stderr, "bench child:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// childResult is what a child reports on stdout.
type childResult struct {
	Bytes   int64
	Seconds float64
	// CPUSeconds is the user + system time the process spent during the
	// copy, whichever goroutine spent it.
	CPUSeconds float64
	// Described is how many of the copies' results carry the video's
	// media metadata.
	Described int
	// PeakRSS is the child's own peak resident set (VmHWM), in bytes; 0
	// where /proc is missing. Linux's rusage is no substitute: exec carries
	// the forking process's high-water mark into the child's ru_maxrss, so a
	// benchmark process larger than its child would be measured instead.
	PeakRSS int64
}

// cpuSeconds is the user + system time this process has used so far.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// peakRSS reads this process's VmHWM from /proc/self/status.
func peakRSS() int64 {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err == nil {
				return kb << 10
			}
		}
	}
	return 0
}

func runChild(mode string) error {
	ctx := context.Background()
	urls := strings.Fields(os.Getenv("BENCH_URLS"))
	sinkURL := os.Getenv("BENCH_SINK")
	if root, ok := strings.CutPrefix(sinkURL, emulatorSink); ok {
		// dev's GCS emulator, in this process so its memory is measured too.
		stop, url, err := serveEmulator(root)
		if err != nil {
			return err
		}
		defer stop()
		sinkURL = url
	}
	gcs, err := gcsemu.NewClient(ctx, sinkURL)
	if err != nil {
		return err
	}
	defer gcs.Close()
	policy := safehttp.Policy{AllowPrivate: true, AllowAnyPort: true}
	// Zero settings take the worker's defaults.
	settings := activities.TransferSettings{
		ChunkSize:       envInt("BENCH_CHUNK", 0),
		PartSize:        int64(envInt("BENCH_PART", 0)),
		PartConcurrency: envInt("BENCH_PARTS", 0),
		MemoryBudget:    int64(envInt("BENCH_BUDGET", 0)),
		MaxVideoBytes:   1 << 40,
	}
	kind := contract.AssetKind(cmp.Or(os.Getenv("BENCH_KIND"), string(contract.KindVideo)))
	acts := &activities.Activities{
		Origin:   safehttp.NewClient(policy, safehttp.ClientOptions{MaxRedirects: 3}),
		Storage:  gcs,
		Bucket:   "bench",
		Prefix:   "videos/",
		Transfer: settings,
	}
	suite := &testsuite.WorkflowTestSuite{}
	suite.SetLogger(sdklog.NewStructuredLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	// One test environment per concurrent transfer: an environment does not
	// run activities concurrently safely. Each spends time on its first
	// activity; that is paid before the clock starts, so only the transfer
	// is timed.
	warmUp := func(context.Context) error { return nil }
	envs := make([]*testsuite.TestActivityEnvironment, len(urls))
	for i := range envs {
		envs[i] = suite.NewTestActivityEnvironment()
		envs[i].RegisterActivity(acts)
		envs[i].RegisterActivity(warmUp)
		if _, err := envs[i].ExecuteActivity(warmUp); err != nil {
			return err
		}
	}

	ids := strings.Fields(os.Getenv("BENCH_IDS"))
	reuseOnly := os.Getenv("BENCH_REUSE_ONLY") != ""
	// Only the copy is measured and profiled: not the process's start, nor
	// the test environments' warm-up (the SDK's first activity hashes the
	// whole binary, about 0.35 CPU-seconds, which the relays never pay).
	stopProfiles, err := startProfiles(os.Getenv("BENCH_CPUPROFILE"), os.Getenv("BENCH_BLOCKPROFILE"))
	if err != nil {
		return err
	}
	cpuBefore := cpuSeconds()
	start := time.Now()
	var total int64
	var described int
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := make(chan error, len(urls))
	for i, u := range urls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var n int64
			var media bool
			var err error
			id := fmt.Sprintf("bench-%d-%d", os.Getpid(), i)
			if i < len(ids) {
				id = ids[i]
			}
			switch mode {
			case "relay":
				n, err = relay(ctx, acts, u, "relay/"+id)
			case "ranged-relay":
				n, err = rangedRelay(ctx, acts, u, "relay/"+id)
			default:
				n, media, err = transfer(envs[i], acts, activities.TransferInput{Kind: kind, SourceURL: u, WochitVideoID: id, ReuseOnly: reuseOnly})
			}
			if err != nil {
				errs <- err
				return
			}
			mu.Lock()
			total += n
			if media {
				described++
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	seconds, cpu := time.Since(start).Seconds(), cpuSeconds()-cpuBefore
	if err := stopProfiles(); err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(childResult{Bytes: total, Seconds: seconds, CPUSeconds: cpu, Described: described, PeakRSS: peakRSS()})
}

// emulatorSink, followed by a directory, as BENCH_SINK makes the child serve
// dev's disk-backed GCS emulator itself instead of using a sink. With
// BENCH_EMULATOR=fake-gcs-server it serves fake-gcs-server alone, without
// the streaming writes: the "before" of BENCHMARKS.md.
const emulatorSink = "emulator:"

func serveEmulator(root string) (stop func(), url string, err error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", err
	}
	url = "http://" + l.Addr().String()
	emu, err := gcsemu.New(root, url, "bench")
	if err != nil {
		l.Close()
		return nil, "", err
	}
	handler := emu.Handler()
	if os.Getenv("BENCH_EMULATOR") == "fake-gcs-server" {
		handler = emu.FakeGCSServerHandler()
	}
	srv := &http.Server{Handler: handler}
	go srv.Serve(l)
	return func() { srv.Close(); emu.Stop() }, url, nil
}

// transfer runs TransferToGCS and returns the stored size and whether the
// result carries media metadata.
func transfer(env *testsuite.TestActivityEnvironment, acts *activities.Activities, in activities.TransferInput) (int64, bool, error) {
	v, err := env.ExecuteActivity(acts.TransferToGCS, in)
	if err != nil {
		return 0, false, err
	}
	var res activities.TransferResult
	if err := v.Get(&res); err != nil {
		return 0, false, err
	}
	return res.Object.Size, res.Object.Media != nil, nil
}

func envInt(key string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(key)); err == nil {
		return v
	}
	return def
}

// measurement is one child run seen from the parent.
type measurement struct {
	bytes      int64
	seconds    float64 // wall time of the copy, as the child measured it
	cpuSeconds float64 // user + system time of the child during the copy
	maxRSS     int64   // peak resident set, bytes
	described  int     // results with media metadata
}

func (m measurement) rate() float64 { return float64(m.bytes) / m.seconds }

// runCopy runs a child copying urls into the sink with the given mode and
// settings (BENCH_* variables).
func runCopy(b testing.TB, mode, sinkURL string, urls []string, settings ...string) measurement {
	b.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$", "-test.bench=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+mode, "BENCH_SINK="+sinkURL, "BENCH_URLS="+strings.Join(urls, " "))
	cmd.Env = append(cmd.Env, settings...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		b.Fatalf("%s child: %v\n%s", mode, err, stderr.String())
	}
	if os.Getenv("BENCH_VERBOSE") != "" {
		fmt.Fprint(os.Stderr, stderr.String())
	}
	var res childResult
	if err := json.Unmarshal(out, &res); err != nil {
		b.Fatalf("%s child printed %q", mode, out)
	}
	m := measurement{
		bytes:      res.Bytes,
		seconds:    res.Seconds,
		cpuSeconds: res.CPUSeconds,
		maxRSS:     res.PeakRSS,
		described:  res.Described,
	}
	if m.maxRSS == 0 {
		m.maxRSS = cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss * 1024
	}
	return m
}

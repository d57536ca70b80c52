//go:build topology

package topology

import (
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// postgres is a PostgreSQL server of the test's own: its data directory in a
// temporary directory, its own port on loopback, no Unix socket, so it
// neither needs nor disturbs a system cluster.
type postgres struct {
	bin     string // the directory with initdb, postgres, pg_isready
	dataDir string
	port    int
	cred    *syscall.Credential // nil: run as ourselves
	logs    *logDir
	proc    *proc
}

// pgBinDir finds Debian's PostgreSQL binaries (the newest major version), or
// the directory in TOPOLOGY_PG_BIN.
func pgBinDir(t *testing.T) string {
	t.Helper()
	if dir := os.Getenv("TOPOLOGY_PG_BIN"); dir != "" {
		return dir
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return pgMajor(dirs[i]) < pgMajor(dirs[j]) })
	for i := len(dirs) - 1; i >= 0; i-- {
		if _, err := os.Stat(filepath.Join(dirs[i], "postgres")); err == nil {
			return dirs[i]
		}
	}
	t.Fatal("PostgreSQL is not installed: run topology/setup.sh (Debian's postgresql package), or set TOPOLOGY_PG_BIN")
	return ""
}

func pgMajor(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

// newPostgres creates a cluster under root. initdb and postgres refuse to run
// as root, so as root they run as the postgres system user (which Debian's
// package creates), owning the data directory.
func newPostgres(t *testing.T, root string, port int, logs *logDir) *postgres {
	t.Helper()
	p := &postgres{bin: pgBinDir(t), dataDir: filepath.Join(root, "pgdata"), port: port, logs: logs}
	if err := os.Mkdir(p.dataDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("running as root, PostgreSQL needs another user to run as: %v (topology/setup.sh installs it)", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		p.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		// The postgres user must reach its directory through ours.
		for dir := root; dir != "/" && dir != "."; dir = filepath.Dir(dir) {
			if fi, err := os.Stat(dir); err == nil && fi.Mode().Perm()&0o001 == 0 {
				if err := os.Chmod(dir, fi.Mode().Perm()|0o711); err != nil {
					t.Fatal(err)
				}
			}
		}
		if err := os.Chown(p.dataDir, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	initdb := p.command("initdb", "-D", p.dataDir, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync")
	if out, err := initdb.CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	return p
}

func (p *postgres) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(p.bin, name), args...)
	cmd.Dir = p.dataDir
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "LC_ALL=C"}
	if p.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: p.cred}
	}
	return cmd
}

func (p *postgres) addr() string { return fmt.Sprintf("127.0.0.1:%d", p.port) }

// start runs the postmaster and waits until it accepts connections.
func (p *postgres) start(t *testing.T) {
	t.Helper()
	cmd := p.command("postgres", "-D", p.dataDir, "-p", strconv.Itoa(p.port),
		"-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=",
		"-c", "max_connections=200", "-c", "shared_buffers=128MB",
		// A crash of the server process loses nothing committed without
		// fsync (the kernel still has the pages); only a power cut would,
		// which this test does not simulate.
		"-c", "fsync=off", "-c", "full_page_writes=off",
		// LOG level: the log says whether a start ran crash recovery.
		"-c", "log_min_messages=log", "-c", "log_checkpoints=off", "-c", "log_line_prefix=%m [%p] ")
	// SIGQUIT is PostgreSQL's immediate shutdown: the children go too.
	p.proc = p.logs.start(t, "postgres", cmd, syscall.SIGQUIT)
	waitFor(t, time.Minute, "PostgreSQL to accept connections", func() bool {
		if p.proc.exited() {
			t.Fatalf("PostgreSQL exited: %v\n%s", p.proc.err, tail(p.proc.logPath, 20))
		}
		return p.ready()
	})
}

// ready asks the server whether it accepts connections.
func (p *postgres) ready() bool {
	return exec.Command(filepath.Join(p.bin, "pg_isready"), "-q", "-h", "127.0.0.1", "-p", strconv.Itoa(p.port), "-t", "2").Run() == nil
}

// crash stops the server the way a crash does: an immediate shutdown
// (SIGQUIT) aborts every backend without a checkpoint, and the next start
// replays the WAL. It returns when the postmaster has exited, and fails
// unless the control file says the cluster was left running, not shut
// down: the proof that the next start is a crash recovery.
func (p *postgres) crash(t *testing.T) {
	t.Helper()
	if err := p.proc.cmd.Process.Signal(syscall.SIGQUIT); err != nil {
		t.Fatal(err)
	}
	err := p.proc.waitExit(t, time.Minute)
	if state := p.clusterState(t); state != "in production" {
		t.Fatalf("PostgreSQL (pid %d) exited (%v) leaving the cluster %q, not as a crash does (%q)", p.pid(), err, state, "in production")
	}
}

func (p *postgres) pid() int { return p.proc.pid() }

// clusterState is the "Database cluster state" of the control file.
func (p *postgres) clusterState(t *testing.T) string {
	t.Helper()
	out, err := p.command("pg_controldata", "-D", p.dataDir).Output()
	if err != nil {
		t.Fatalf("pg_controldata: %v", err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(line, "Database cluster state:"); ok {
			return strings.TrimSpace(v)
		}
	}
	t.Fatalf("pg_controldata printed no cluster state:\n%s", out)
	return ""
}

// recovered reports whether the running server's start was a crash
// recovery, as its log says.
func (p *postgres) recovered() bool {
	b, err := os.ReadFile(p.proc.logPath)
	return err == nil && strings.Contains(string(b), "automatic recovery in progress")
}

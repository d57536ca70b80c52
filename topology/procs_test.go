//go:build topology

package topology

import (
	"bufio"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// proc is a child process of the test whose output goes to its own log file.
// Every start of a component gets a new proc (and log), so a restart's old
// and new process can be told apart.
type proc struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	done    chan struct{} // closed when the process has exited
	err     error         // its exit status, once done is closed
}

// logDir collects every child's log; on failure their tails are printed.
type logDir struct {
	dir   string
	mu    sync.Mutex
	procs []*proc
}

// start runs cmd as a child named name. stopSig is what the cleanup sends
// if the process is still running when the test ends; the same signal is
// sent by the kernel if the test process dies first (Pdeathsig), so no child
// outlives a test killed by its timeout.
func (l *logDir) start(t *testing.T, name string, cmd *exec.Cmd, stopSig syscall.Signal) *proc {
	t.Helper()
	l.mu.Lock()
	n := 1
	for _, p := range l.procs {
		if strings.HasPrefix(p.name, name+"#") {
			n++
		}
	}
	p := &proc{name: fmt.Sprintf("%s#%d", name, n), cmd: cmd, done: make(chan struct{})}
	l.procs = append(l.procs, p)
	l.mu.Unlock()

	p.logPath = filepath.Join(l.dir, strings.ReplaceAll(p.name, "#", "-")+".log")
	out, err := os.Create(p.logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = out, out
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = stopSig
	if err := cmd.Start(); err != nil {
		out.Close()
		t.Fatalf("starting %s: %v", p.name, err)
	}
	go func() {
		p.err = cmd.Wait()
		out.Close()
		close(p.done)
	}()
	t.Cleanup(func() {
		if !p.exited() {
			_ = cmd.Process.Signal(stopSig)
			select {
			case <-p.done:
			case <-time.After(30 * time.Second):
				_ = cmd.Process.Kill()
				<-p.done
			}
		}
	})
	return p
}

// dumpOnFailure prints the end of every child's log if the test failed.
func (l *logDir) dumpOnFailure(t *testing.T) {
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		l.mu.Lock()
		defer l.mu.Unlock()
		for _, p := range l.procs {
			t.Logf("--- last lines of %s (pid %d, %s):\n%s", p.name, p.pid(), p.status(), tail(p.logPath, 40))
		}
	})
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (p *proc) status() string {
	if !p.exited() {
		return "running"
	}
	if p.err == nil {
		return "exited 0"
	}
	return p.err.Error()
}

// waitExit waits for the process to exit and returns how it ended.
func (p *proc) waitExit(t *testing.T, timeout time.Duration) error {
	t.Helper()
	select {
	case <-p.done:
		return p.err
	case <-time.After(timeout):
		t.Fatalf("%s (pid %d) did not exit within %s", p.name, p.pid(), timeout)
		return nil
	}
}

// killed reports whether err is the exit of a process ended by sig.
func killedBy(err error, sig syscall.Signal) bool {
	var exit *exec.ExitError
	if !errors.As(err, &exit) {
		return false
	}
	ws, ok := exit.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == sig
}

func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	for i, l := range lines {
		if len(l) > 600 {
			lines[i] = l[:600] + "…"
		}
	}
	return strings.Join(lines, "\n")
}

// freeLowPorts finds n distinct free loopback ports below 32768, outside
// Linux's ephemeral range, fixed for the whole test so a restarted
// component comes back where its clients expect it. Below 32768 because
// the Temporal server records its membership ports in a PostgreSQL
// SMALLINT column (cluster_membership.rpc_port) and dies on larger ones.
func freeLowPorts(t *testing.T, n int) []int {
	t.Helper()
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var ports []int
	for try := 0; len(ports) < n; try++ {
		if try > 1000 {
			t.Fatal("no free ports below 32768")
		}
		port := 20000 + rand.IntN(12000)
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue
		}
		ls = append(ls, l)
		ports = append(ports, port)
	}
	return ports
}

// waitFor polls cond until it holds, failing the test after timeout.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) time.Time {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return time.Now()
}

var probeClient = &http.Client{Timeout: 3 * time.Second}

// httpOK reports whether GET url answers 200.
func httpOK(url string) bool {
	resp, err := probeClient.Get(url)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// localPortsOf returns the local ports of the TCP sockets process pid holds,
// read from /proc: the origin sees a request's remote port, and this says
// which process is on the other end.
func localPortsOf(pid int) (map[int]bool, error) {
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return nil, err
	}
	inodes := map[string]bool{}
	for _, fd := range fds {
		link, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name()))
		if err == nil && strings.HasPrefix(link, "socket:[") {
			inodes[strings.TrimSuffix(strings.TrimPrefix(link, "socket:["), "]")] = true
		}
	}
	ports := map[int]bool{}
	for _, table := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		f, err := os.Open(table)
		if err != nil {
			continue
		}
		s := bufio.NewScanner(f)
		for s.Scan() {
			// sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
			fields := strings.Fields(s.Text())
			if len(fields) < 10 || !inodes[fields[9]] {
				continue
			}
			_, portHex, ok := strings.Cut(fields[1], ":")
			if port, err := strconv.ParseInt(portHex, 16, 32); ok && err == nil {
				ports[int(port)] = true
			}
		}
		f.Close()
	}
	return ports, nil
}

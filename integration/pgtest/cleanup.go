package pgtest

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"sync"
	"syscall"
	"testing"
	"time"
)

// live holds the local clusters not yet torn down, for the signal handler
// and Main. t.Cleanup does not run when the process is interrupted.
var live = struct {
	sync.Mutex
	m map[*localCluster]struct{}
}{m: map[*localCluster]struct{}{}}

var signalOnce sync.Once

func register(l *localCluster) {
	signalOnce.Do(handleSignals)
	live.Lock()
	live.m[l] = struct{}{}
	live.Unlock()
}

func unregister(l *localCluster) {
	live.Lock()
	delete(live.m, l)
	live.Unlock()
}

// destroyAll tears down every live cluster, concurrently because a signal
// handler has little time.
func destroyAll() {
	live.Lock()
	var ls []*localCluster
	for l := range live.m {
		ls = append(ls, l)
	}
	live.Unlock()
	var wg sync.WaitGroup
	for _, l := range ls {
		wg.Go(func() {
			if err := l.destroy(); err != nil {
				fmt.Fprintf(os.Stderr, "pgtest: %v\n", err)
			}
		})
	}
	wg.Wait()
}

// handleSignals tears the servers down on SIGINT/SIGTERM/SIGHUP and then
// dies of the same signal, so the exit looks as it would have without us.
// pg_ctl puts each server in its own session, so a Ctrl-C reaches only the
// test binary and the servers would otherwise outlive it.
func handleSignals() {
	ch := make(chan os.Signal, 1)
	sigs := []os.Signal{os.Interrupt, syscall.SIGTERM, syscall.SIGHUP}
	signal.Notify(ch, sigs...)
	go func() {
		sig := <-ch
		fmt.Fprintf(os.Stderr, "pgtest: %v: stopping test servers\n", sig)
		destroyAll()
		signal.Reset(sigs...)
		_ = syscall.Kill(os.Getpid(), sig.(syscall.Signal))
		time.Sleep(time.Second)
		os.Exit(2)
	}()
}

// Main runs the tests with servers cleaned up on interrupt from the start,
// and any cluster whose cleanup did not run destroyed before exiting:
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
//
// Start works without it; Main only narrows the windows.
func Main(m *testing.M) {
	os.Exit(Run(m))
}

// Run is Main without the exit, for a TestMain with its own clean-up to
// do afterwards (os.Exit skips deferred calls).
func Run(m *testing.M) int {
	signalOnce.Do(handleSignals)
	code := m.Run()
	destroyAll()
	return code
}

// watchdog is a small shell process that outlives the test binary if the
// binary dies without cleaning up (SIGKILL, `go test -timeout` panics,
// os.Exit in a test). It holds the read end of a pipe; when every write end
// is closed — which the kernel does when we die — and we have not said
// "done", it stops the servers in base and deletes base.
type watchdog struct {
	cmd  *exec.Cmd
	pipe io.WriteCloser
	once sync.Once
}

// watchdogScript gets base as $1. Each server gets SIGQUIT, the
// postmaster's immediate shutdown, so no pg_ctl or user switch is needed.
const watchdogScript = `
IFS= read -r line
[ "$line" = done ] && exit 0
for pidfile in "$1"/*/postmaster.pid; do
	[ -f "$pidfile" ] && kill -QUIT "$(head -n 1 "$pidfile")"
done
i=0
while [ $i -lt 100 ] && ls "$1"/*/postmaster.pid >/dev/null 2>&1; do
	sleep 0.1
	i=$((i + 1))
done
rm -rf "$1"
`

func startWatchdog(base string) (*watchdog, error) {
	cmd := exec.Command("/bin/sh", "-c", watchdogScript, "pgtest-watchdog", base)
	// Its own process group: a Ctrl-C aimed at `go test` must not kill the
	// watchdog before it has done its job.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	pipe, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting watchdog: %w", err)
	}
	return &watchdog{cmd: cmd, pipe: pipe}, nil
}

// release tells the watchdog the cluster is gone and reaps it.
func (w *watchdog) release() {
	w.once.Do(func() {
		_, _ = io.WriteString(w.pipe, "done\n")
		_ = w.pipe.Close()
		_ = w.cmd.Wait()
	})
}

// Package target gives a scenario somewhere to run: a broker that is
// already running, a broker spawned for the run (SQLite in a temp dir, or
// PostgreSQL), or the bare relay spawned as a child of this binary.
package target

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/claudemesh/claudemesh/tools/meshload/internal/brokerproc"
	"github.com/claudemesh/claudemesh/tools/meshload/internal/scenario"
)

// Spec says which broker to use.
type Spec struct {
	BrokerURL   string // use this running broker
	BrokerPID   int    // its pid, for RSS
	AdminToken  string
	Spawn       bool   // start a broker for the run
	BrokerBin   string // binary to spawn; built from the repository when empty
	DatabaseURL string // spawn on PostgreSQL at this URL
	PGThrowaway bool   // spawn on a throwaway PostgreSQL cluster
	KeepDir     bool   // keep the spawned broker's directory (log, SQLite)
	Progress    io.Writer
}

// Target is a running broker or relay; Close stops what was spawned.
type Target struct {
	Env       scenario.Env
	Settings  map[string]string // broker settings of a spawned broker
	PprofAddr string            // a spawned broker's pprof listener (host:port)
	closers   []func()
}

// Close stops spawned processes, newest first.
func (t *Target) Close() {
	for i := len(t.closers) - 1; i >= 0; i-- {
		t.closers[i]()
	}
	t.closers = nil
}

// BrokerSettings are the limits a spawned broker gets for a scenario: a
// connection cap that fits the mesh, and rate limits high enough that the
// benchmark measures the broker's work, not its throttles.
func BrokerSettings(name string, o scenario.Options) map[string]string {
	perMesh := o.Sessions
	if name == "connect" && o.MeshSize > 0 {
		perMesh = min(o.Sessions, o.MeshSize)
	}
	return map[string]string{
		"MAX_CONNECTIONS_PER_MESH": strconv.Itoa(perMesh + 16),
		"HTTP_RATE_LIMIT_PER_MIN":  "1000000",
		"SEND_RATE_PER_SEC":        "1000000",
	}
}

var (
	buildOnce sync.Once
	builtDir  string
	builtBin  string
	buildErr  error
)

// Cleanup removes the broker binary built for --spawn, if any.
func Cleanup() {
	if builtDir != "" {
		os.RemoveAll(builtDir)
	}
}

// brokerBin returns spec.BrokerBin, or builds cmd/broker once per process.
func brokerBin(ctx context.Context, spec Spec) (string, error) {
	if spec.BrokerBin != "" {
		return spec.BrokerBin, nil
	}
	buildOnce.Do(func() {
		wd, err := os.Getwd()
		if err != nil {
			buildErr = err
			return
		}
		repo, err := brokerproc.FindRepo(wd)
		if err != nil {
			buildErr = err
			return
		}
		builtDir, buildErr = os.MkdirTemp("", "meshload-bin-")
		if buildErr != nil {
			return
		}
		builtBin = filepath.Join(builtDir, "claudemesh-broker")
		if spec.Progress != nil {
			fmt.Fprintf(spec.Progress, "meshload: building %s/cmd/broker\n", repo)
		}
		buildErr = brokerproc.Build(ctx, repo, builtBin)
	})
	return builtBin, buildErr
}

// Broker returns the broker a scenario runs against.
func Broker(ctx context.Context, spec Spec, name string, o scenario.Options) (*Target, error) {
	if !spec.Spawn {
		if spec.BrokerURL == "" {
			return nil, fmt.Errorf("say where the broker is: --broker URL, or --spawn")
		}
		backend := "running broker"
		return &Target{Env: scenario.Env{URL: spec.BrokerURL, AdminToken: spec.AdminToken, PID: spec.BrokerPID,
			Backend: backend, Progress: spec.Progress}}, nil
	}
	bin, err := brokerBin(ctx, spec)
	if err != nil {
		return nil, err
	}
	t := &Target{Settings: BrokerSettings(name, o)}
	dbURL := spec.DatabaseURL
	if spec.PGThrowaway && dbURL == "" {
		pg, err := brokerproc.StartPostgres(ctx)
		if err != nil {
			return nil, fmt.Errorf("throwaway PostgreSQL: %w", err)
		}
		t.closers = append(t.closers, pg.Stop)
		dbURL = pg.URL
	}
	proc, err := brokerproc.Start(ctx, brokerproc.Options{Bin: bin, DatabaseURL: dbURL, Settings: t.Settings, KeepDir: spec.KeepDir})
	if err != nil {
		t.Close()
		return nil, err
	}
	t.closers = append(t.closers, func() {
		if err := proc.Stop(); err != nil && spec.Progress != nil {
			fmt.Fprintf(spec.Progress, "meshload: %v\n", err)
		}
	})
	if spec.KeepDir && spec.Progress != nil {
		fmt.Fprintf(spec.Progress, "meshload: broker log and data in %s\n", proc.Dir)
	}
	t.Env = scenario.Env{URL: proc.URL, AdminToken: spec.AdminToken, PID: proc.PID, Backend: proc.Backend, Progress: spec.Progress}
	t.PprofAddr = proc.PprofAddr
	return t, nil
}

// Relay spawns the bare relay as `<this binary> relay-serve` so it runs in
// its own process, as the broker does.
func Relay(ctx context.Context, progress io.Writer) (*Target, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe, "relay-serve", "--addr", "127.0.0.1:0")
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	exited := make(chan struct{})
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		if sc.Scan() {
			lines <- sc.Text()
		}
		_, _ = io.Copy(io.Discard, out)
	}()
	go func() { _ = cmd.Wait(); close(exited) }()
	stop := func() {
		_ = cmd.Process.Kill()
		<-exited
	}
	var url string
	select {
	case line := <-lines:
		url = strings.TrimPrefix(line, "relay listening on ")
	case <-exited:
		return nil, fmt.Errorf("the relay process exited before listening")
	case <-time.After(30 * time.Second):
		stop()
		return nil, fmt.Errorf("the relay process did not report its address")
	case <-ctx.Done():
		stop()
		return nil, ctx.Err()
	}
	return &Target{Env: scenario.Env{URL: url, PID: cmd.Process.Pid, Relay: true, Backend: "relay", Progress: progress},
		closers: []func(){stop}}, nil
}

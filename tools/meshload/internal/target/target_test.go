package target

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/claudemesh/claudemesh/tools/meshload/internal/brokerproc"
	"github.com/claudemesh/claudemesh/tools/meshload/internal/relay"
	"github.com/claudemesh/claudemesh/tools/meshload/internal/scenario"
)

// TestMain lets the test binary stand in for meshload's hidden
// relay-serve command, which Relay runs as a child of os.Executable().
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "relay-serve" {
		s, err := relay.Start("127.0.0.1:0")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Println("relay listening on " + s.URL)
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
		defer stop()
		<-ctx.Done()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func runFor(t *testing.T, tg *Target, name string, o scenario.Options) *scenario.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	r, err := scenario.Run(ctx, name, tg.Env, o)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if r.Failed() {
		t.Fatalf("%s failed: %v", name, r.Failures)
	}
	return r
}

// The --spawn path end to end: build cmd/broker, start it as a process
// with the scenario's limits, run a dm against it, read its RSS, stop it.
func TestSpawnedBrokerRunsADM(t *testing.T) {
	if _, err := brokerproc.RaiseNoFile(); err != nil {
		t.Fatal(err)
	}
	wd, _ := os.Getwd()
	repo, err := brokerproc.FindRepo(wd)
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "claudemesh-broker")
	ctx := context.Background()
	if err := brokerproc.Build(ctx, repo, bin); err != nil {
		t.Fatal(err)
	}
	o := scenario.Options{Sessions: 6, Duration: 400 * time.Millisecond, Window: 4}
	tg, err := Broker(ctx, Spec{Spawn: true, BrokerBin: bin}, "dm", o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tg.Close)
	if tg.Env.PID <= 0 || tg.Env.PID == os.Getpid() || tg.Env.Backend != "sqlite" {
		t.Fatalf("env = %+v", tg.Env)
	}
	if host, _, err := net.SplitHostPort(tg.PprofAddr); err != nil || host != "127.0.0.1" {
		t.Fatalf("pprof listener %q: want the spawned broker's loopback address (%v)", tg.PprofAddr, err)
	}
	if got := tg.Settings["MAX_CONNECTIONS_PER_MESH"]; got != "22" {
		t.Fatalf("MAX_CONNECTIONS_PER_MESH = %q, want sessions+16", got)
	}
	r := runFor(t, tg, "dm", o)
	if r.Counts.Acked == 0 || r.Counts.Lost != 0 || r.RSS == nil || r.RSS.PeakMB <= 0 {
		t.Fatalf("counts %+v, rss %+v", r.Counts, r.RSS)
	}
	pid := tg.Env.PID
	tg.Close()
	if _, _, err := brokerproc.RSS(pid); err == nil {
		t.Fatalf("broker pid %d still running after Close", pid)
	}
}

func TestSpawnedRelayRunsADM(t *testing.T) {
	tg, err := Relay(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tg.Close)
	if !tg.Env.Relay || tg.Env.PID <= 0 {
		t.Fatalf("env = %+v", tg.Env)
	}
	r := runFor(t, tg, "dm", scenario.Options{Sessions: 4, Duration: 300 * time.Millisecond, Window: 2})
	if r.Counts.Acked == 0 || r.RSS == nil {
		t.Fatalf("counts %+v, rss %+v", r.Counts, r.RSS)
	}
}

func TestRunningBrokerNeedsAURL(t *testing.T) {
	if _, err := Broker(context.Background(), Spec{}, "dm", scenario.Options{}); err == nil {
		t.Fatal("no --broker and no --spawn must be an error")
	}
}

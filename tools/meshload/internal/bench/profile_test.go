package bench

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/claudemesh/claudemesh/tools/meshload/internal/brokerproc"
	"github.com/claudemesh/claudemesh/tools/meshload/internal/scenario"
	"github.com/claudemesh/claudemesh/tools/meshload/internal/target"
)

var (
	brokerOnce sync.Once
	brokerBin  string
	brokerErr  error
)

// builtBroker compiles cmd/broker once for the package's tests.
func builtBroker(t *testing.T) string {
	t.Helper()
	brokerOnce.Do(func() {
		wd, _ := os.Getwd()
		repo, err := brokerproc.FindRepo(wd)
		if err != nil {
			brokerErr = err
			return
		}
		dir, err := os.MkdirTemp("", "meshload-bench-test-")
		if err != nil {
			brokerErr = err
			return
		}
		brokerBin = filepath.Join(dir, "claudemesh-broker")
		brokerErr = brokerproc.Build(context.Background(), repo, brokerBin)
	})
	if brokerErr != nil {
		t.Fatal(brokerErr)
	}
	return brokerBin
}

func TestMain(m *testing.M) {
	code := m.Run()
	if brokerBin != "" {
		os.RemoveAll(filepath.Dir(brokerBin))
	}
	os.Exit(code)
}

func spawn(t *testing.T, it item) *target.Target {
	t.Helper()
	if _, err := brokerproc.RaiseNoFile(); err != nil {
		t.Fatal(err)
	}
	tg, err := target.Broker(t.Context(), target.Spec{Spawn: true, BrokerBin: builtBroker(t)}, it.name, withDefaults(it))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tg.Close)
	return tg
}

// A profiled run against a spawned broker saves real profiles that go
// tool pprof reads, taken during the load, and the results file shows them.
func TestProfilesOfASpawnedBroker(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "2026-03-01")
	cfg := Config{ProfileDir: dir}
	cases := []struct {
		it    item
		file  string
		check func(t *testing.T, p *Profile)
	}{
		{item{id: "P1", name: "dm", profile: "cpu", opts: scenario.Options{Sessions: 10, Duration: 3 * time.Second, Window: 8}},
			"P1.cpu.pprof", func(t *testing.T, p *Profile) {
				if p.Wall < 1 || p.BrokerCPU <= 0 || p.GenCPU <= 0 {
					t.Fatalf("wall %.1f s, broker %.2f CPU s, meshload %.2f CPU s: want all positive", p.Wall, p.BrokerCPU, p.GenCPU)
				}
				if len(p.Cum) == 0 || len(p.Flat) == 0 || len(p.Flat) > 8 || len(p.Cum) > 12 {
					t.Fatalf("cum rows %d, flat rows %d", len(p.Cum), len(p.Flat))
				}
				for _, row := range p.Cum {
					if !strings.Contains(row, ownPackages) {
						t.Fatalf("cumulative row %q is not the repository's", row)
					}
				}
			}},
		{item{id: "P4", name: "connect", profile: "heap", opts: scenario.Options{Sessions: 40, MeshSize: 20, Hold: 500 * time.Millisecond}},
			"P4.heap.pprof", func(t *testing.T, p *Profile) {
				if p.InUse == "" || len(p.Flat) == 0 {
					t.Fatalf("in use %q, rows %d", p.InUse, len(p.Flat))
				}
			}},
	}
	var outs []Outcome
	for _, c := range cases {
		t.Run(c.it.id, func(t *testing.T) {
			r, p, err := runOn(t.Context(), cfg, c.it, spawn(t, c.it))
			if err != nil || r.Failed() {
				t.Fatalf("run: %v %v", err, r.Failures)
			}
			if p == nil || p.Err != nil || p.ToolErr != nil {
				t.Fatalf("profile %+v", p)
			}
			if p.File != "2026-03-01/"+c.file {
				t.Fatalf("file %q, want it relative to the results file", p.File)
			}
			if st, err := os.Stat(filepath.Join(dir, c.file)); err != nil || st.Size() == 0 {
				t.Fatalf("saved profile: %v", err)
			}
			c.check(t, p)
			outs = append(outs, Outcome{ID: c.it.id, Figure: "x", Target: "y", Measured: "z", Met: true, Lost: "0", Result: r, Profile: p})
		})
	}
	if t.Failed() {
		return
	}
	var b bytes.Buffer
	Markdown(&b, cfg, outs, time.Now(), time.Second)
	md := b.String()
	for _, want := range []string{
		"## Where the broker's time goes",
		"### P1: cpu profile",
		"[2026-03-01/P1.cpu.pprof](2026-03-01/P1.cpu.pprof)",
		"steady load the broker used",
		"and meshload",
		"top by cumulative time, this repository's functions",
		"top by flat time (all functions)",
		"### P4: heap profile",
		"In use while the sessions were held",
		"top by in-use space",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
}

// A profile that cannot be taken is reported, and the run still counts.
func TestFailedCaptureDoesNotFailTheRun(t *testing.T) {
	it := item{id: "P2", name: "dm", profile: "cpu", opts: scenario.Options{Sessions: 6, Duration: 1500 * time.Millisecond, Window: 4}}
	tg := spawn(t, it)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tg.PprofAddr = ln.Addr().String()
	ln.Close() // nothing listens there any more
	dir := filepath.Join(t.TempDir(), "day")
	r, p, err := runOn(t.Context(), Config{ProfileDir: dir}, it, tg)
	if err != nil || r == nil || r.Failed() || r.Counts.Acked == 0 {
		t.Fatalf("the run must complete: %v", err)
	}
	if p == nil || p.Err == nil {
		t.Fatalf("profile %+v: want a capture error", p)
	}
	if _, err := os.Stat(filepath.Join(dir, "P2.cpu.pprof")); !os.IsNotExist(err) {
		t.Fatalf("a failed capture left a file: %v", err)
	}
	var b bytes.Buffer
	Markdown(&b, Config{}, []Outcome{{ID: "P2", Measured: "ok", Met: true, Lost: "0", Result: r, Profile: p}}, time.Now(), time.Second)
	if md := b.String(); !strings.Contains(md, "### P2: cpu profile\n\nNot captured: ") || !strings.Contains(md, "| met |") {
		t.Fatalf("markdown:\n%s", md)
	}
}

func TestProfileWindowSitsInTheSteadyLoad(t *testing.T) {
	for _, c := range []struct {
		load    time.Duration
		delay   time.Duration
		seconds int
	}{
		{10 * time.Second, 2 * time.Second, 7},
		{2 * time.Second, 500 * time.Millisecond, 1},
		{time.Second, 250 * time.Millisecond, 1},
	} {
		delay, seconds := profileWindow(c.load)
		if delay != c.delay || seconds != c.seconds {
			t.Errorf("profileWindow(%s) = %s, %d s; want %s, %d s", c.load, delay, seconds, c.delay, c.seconds)
		}
	}
}

func TestBusyNamesTheLimit(t *testing.T) {
	saturated := busy(&Profile{Wall: 10, BrokerCPU: 12, GenCPU: 7}, 2)
	if !strings.Contains(saturated, "1.20 cores of 2") || !strings.Contains(saturated, "meshload 7.0 CPU s (0.70 cores)") ||
		!strings.Contains(saturated, "saturated") {
		t.Errorf("saturated: %s", saturated)
	}
	if idle := busy(&Profile{Wall: 10, BrokerCPU: 3, GenCPU: 2}, 2); !strings.Contains(idle, "cores were left idle") {
		t.Errorf("idle: %s", idle)
	}
	if unknown := busy(&Profile{Wall: 10, BrokerCPU: 3, GenCPU: -1}, 2); strings.Contains(unknown, "meshload") {
		t.Errorf("unknown meshload CPU must not be reported: %s", unknown)
	}
}

func TestTopRowsKeepsTheTable(t *testing.T) {
	out := "File: broker\nType: cpu\nShowing nodes accounting for 1s, 100% of 1s total\n" +
		"      flat  flat%   sum%        cum   cum%\n" +
		"     0.5s 50.00% 50.00%      0.9s 90.00%  runtime.main\n" +
		"     0.2s 20.00% 70.00%      0.8s 80.00%  github.com/claudemesh/claudemesh/internal/hub.(*Hub).Send\n" +
		"     0.1s 10.00% 80.00%      0.3s 30.00%  github.com/claudemesh/claudemesh/internal/store.Put\n"
	if rows := topRows(out, 12, ownPackages); len(rows) != 2 || !strings.HasSuffix(rows[0], "(*Hub).Send") {
		t.Fatalf("own rows %q", rows)
	}
	if rows := topRows(out, 1, ""); len(rows) != 1 || !strings.HasSuffix(rows[0], "runtime.main") {
		t.Fatalf("first row %q", rows)
	}
}

package bench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/claudemesh/claudemesh/tools/meshload/internal/target"
)

// ownPackages marks the repository's own functions in pprof's output.
const ownPackages = "github.com/claudemesh/claudemesh/"

// Profile is one profile of the broker taken during a run, and what
// `go tool pprof` says about it. A capture or analysis that fails is
// recorded in Err or ToolErr and never fails the run.
type Profile struct {
	Kind      string  // "cpu" or "heap"
	File      string  // saved profile, relative to the results file
	Wall      float64 // seconds the CPU profile covered
	BrokerCPU float64 // CPU seconds pprof sampled in the broker (Total samples)
	GenCPU    float64 // CPU seconds meshload itself used in the same window; -1: unknown
	InUse     string  // heap: inuse_space total as pprof prints it
	Cum       []string
	Flat      []string
	Err       error // the profile was not captured
	ToolErr   error // captured, but go tool pprof could not read it
}

// profileWindow places a CPU profile in a load of length d: it starts once
// the load has settled (2 s in, less for short runs) and covers most of
// what is left, in whole seconds (pprof's unit), ending before the load.
func profileWindow(d time.Duration) (delay time.Duration, seconds int) {
	delay = min(2*time.Second, d/4)
	seconds = int((d - delay).Seconds() * 0.9)
	return delay, max(seconds, 1)
}

// captureCPU waits delay, then asks the broker's pprof listener for a CPU
// profile of the given seconds, saves it to path and measures meshload's
// own CPU time over the same window.
func captureCPU(ctx context.Context, pprofAddr, path string, delay time.Duration, seconds int) *Profile {
	p := &Profile{Kind: "cpu", GenCPU: -1}
	select {
	case <-time.After(delay):
	case <-ctx.Done():
		p.Err = ctx.Err()
		return p
	}
	before, berr := selfCPU()
	start := time.Now()
	p.Err = fetch(ctx, fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", pprofAddr, seconds), path, time.Duration(seconds)*time.Second)
	p.Wall = time.Since(start).Seconds()
	if after, aerr := selfCPU(); berr == nil && aerr == nil {
		p.GenCPU = after - before
	}
	if p.Err == nil {
		p.Wall = float64(seconds) // the profile's own window; the fetch adds a little transfer time
	}
	return p
}

// captureHeap saves the broker's heap profile (after a GC, so in-use
// figures are live memory) to path.
func captureHeap(ctx context.Context, pprofAddr, path string) *Profile {
	return &Profile{Kind: "heap", GenCPU: -1,
		Err: fetch(ctx, fmt.Sprintf("http://%s/debug/pprof/heap?gc=1", pprofAddr), path, 0)}
}

func fetch(ctx context.Context, url, path string, window time.Duration) error {
	if strings.HasPrefix(url, "http:///") {
		return fmt.Errorf("the broker reported no pprof listener")
	}
	ctx, cancel := context.WithTimeout(ctx, window+30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 300))
		return fmt.Errorf("GET %s: %s: %s", url, resp.Status, strings.TrimSpace(string(msg)))
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	n, err := io.Copy(f, resp.Body)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil && n == 0 {
		err = fmt.Errorf("GET %s: empty profile", url)
	}
	if err != nil {
		os.Remove(path)
	}
	return err
}

// selfCPU is meshload's user+system CPU seconds so far.
func selfCPU() (float64, error) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, err
	}
	return tv(ru.Utime) + tv(ru.Stime), nil
}

func tv(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }

var (
	totalSamples = regexp.MustCompile(`Total samples = ([0-9.]+)(ms|s|mins|hrs)\b`)
	ofTotal      = regexp.MustCompile(`of ([0-9.]+[A-Za-z]*) total`)
)

// analyze fills the summary of a saved profile from `go tool pprof -top`:
// the top by cumulative time restricted to the repository's own packages
// and the overall top by flat time (CPU), or the in-use total and top
// allocation sites (heap).
func analyze(ctx context.Context, p *Profile, path string) {
	if p.Err != nil {
		return
	}
	if p.Kind == "heap" {
		out, err := pprofTop(ctx, path, "-sample_index=inuse_space", "-nodecount=10")
		if err != nil {
			p.ToolErr = err
			return
		}
		if m := ofTotal.FindStringSubmatch(out); m != nil {
			p.InUse = m[1]
		}
		p.Flat = topRows(out, 10, "")
		return
	}
	cum, err := pprofTop(ctx, path, "-cum", "-nodecount=400")
	if err != nil {
		p.ToolErr = err
		return
	}
	if m := totalSamples.FindStringSubmatch(cum); m != nil {
		v, _ := strconv.ParseFloat(m[1], 64)
		p.BrokerCPU = v * map[string]float64{"ms": 0.001, "s": 1, "mins": 60, "hrs": 3600}[m[2]]
	}
	p.Cum = topRows(cum, 12, ownPackages)
	flat, err := pprofTop(ctx, path, "-nodecount=8")
	if err != nil {
		p.ToolErr = err
		return
	}
	p.Flat = topRows(flat, 8, "")
}

func pprofTop(ctx context.Context, path string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	// -symbolize=none: Go's profiles carry their function names, and
	// pprof must not go looking for the binary or the network.
	argv := append([]string{"tool", "pprof", "-top", "-symbolize=none"}, args...)
	out, err := exec.CommandContext(ctx, "go", append(argv, path)...).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go tool pprof -top: %v: %s", err, oneLine(string(out)))
	}
	return string(out), nil
}

// topRows returns up to n rows of a `pprof -top` table (the lines after
// its "flat  flat%" header), those naming a function of prefix when set.
func topRows(out string, n int, prefix string) []string {
	var rows []string
	inTable := false
	for _, line := range strings.Split(out, "\n") {
		if !inTable {
			inTable = strings.Contains(line, "flat%") && strings.Contains(line, "cum%")
			continue
		}
		if strings.TrimSpace(line) == "" || (prefix != "" && !strings.Contains(line, prefix)) {
			continue
		}
		if len(rows) == n {
			break
		}
		rows = append(rows, strings.TrimRight(line, " "))
	}
	return rows
}

// loadProfile is the profile one run takes through its scenario's Steady
// hook. The hook is called and waited for on the scenario's goroutine, and
// result runs after scenario.Run returned on that same goroutine, so
// started and done need no lock; got is written before done closes.
type loadProfile struct {
	kind, path, file string
	started          bool
	done             chan struct{}
	got              *Profile
}

// profileDuringLoad arranges the run's profile, if the item takes one and
// the results file has a directory for it, by setting t.Env.Steady.
func profileDuringLoad(cfg Config, it item, t *target.Target) *loadProfile {
	if it.profile == "" || cfg.ProfileDir == "" {
		return nil
	}
	name := it.id + "." + it.profile + ".pprof"
	lp := &loadProfile{kind: it.profile, path: filepath.Join(cfg.ProfileDir, name),
		file: filepath.ToSlash(filepath.Join(filepath.Base(cfg.ProfileDir), name)), done: make(chan struct{})}
	addr := t.PprofAddr
	t.Env.Steady = func(ctx context.Context, window time.Duration) func() {
		lp.started = true
		go func() {
			defer close(lp.done)
			if lp.kind == "heap" {
				lp.got = captureHeap(ctx, addr, lp.path)
				return
			}
			delay, seconds := profileWindow(window)
			lp.got = captureCPU(ctx, addr, lp.path, delay, seconds)
		}()
		return func() { <-lp.done }
	}
	return lp
}

// result waits for the capture and reads the profile with go tool pprof.
func (lp *loadProfile) result(ctx context.Context) *Profile {
	if lp == nil {
		return nil
	}
	if !lp.started {
		return &Profile{Kind: lp.kind, File: lp.file, GenCPU: -1, Err: fmt.Errorf("the run ended before its steady load")}
	}
	<-lp.done
	p := lp.got
	p.File = lp.file
	analyze(context.WithoutCancel(ctx), p, lp.path)
	return p
}

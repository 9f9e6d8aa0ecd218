package brokerproc

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// RSS reads a process's resident set (VmRSS) and its peak (VmHWM) in bytes.
func RSS(pid int) (rss, peak int64, err error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || (k != "VmRSS" && k != "VmHWM") {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("parsing %s in /proc/%d/status: %w", k, pid, err)
		}
		if k == "VmRSS" {
			rss = kb << 10
		} else {
			peak = kb << 10
		}
	}
	if rss == 0 {
		return 0, 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
	}
	return rss, peak, sc.Err()
}

// Sampler polls a process's RSS and keeps the largest value seen.
type Sampler struct {
	pid  int
	stop chan struct{}
	wg   sync.WaitGroup
	mu   sync.Mutex
	max  int64
	last int64
}

// Sample starts polling pid every interval.
func Sample(pid int, interval time.Duration) *Sampler {
	s := &Sampler{pid: pid, stop: make(chan struct{})}
	s.poll()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-s.stop:
				return
			case <-t.C:
				s.poll()
			}
		}
	}()
	return s
}

func (s *Sampler) poll() {
	rss, _, err := RSS(s.pid)
	if err != nil {
		return
	}
	s.mu.Lock()
	s.last, s.max = rss, max(s.max, rss)
	s.mu.Unlock()
}

// Stop ends polling and returns the largest and the last RSS seen.
func (s *Sampler) Stop() (maxRSS, last int64) {
	close(s.stop)
	s.wg.Wait()
	s.poll()
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.max, s.last
}

// RaiseNoFile lifts this process's open-file soft limit to its hard limit
// (children inherit it) and returns the new soft limit: 10,000 sessions
// need more than the usual 1,024 descriptors on both ends.
func RaiseNoFile() (uint64, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, err
	}
	if lim.Cur < lim.Max {
		lim.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			return 0, err
		}
	}
	return lim.Cur, nil
}

// FindRepo walks up from dir to the claudemesh repository root (the
// directory whose go.mod declares the main module).
func FindRepo(dir string) (string, error) {
	for d := dir; ; d = filepath.Dir(d) {
		data, err := os.ReadFile(filepath.Join(d, "go.mod"))
		if err == nil && strings.Contains(string(data), "module github.com/claudemesh/claudemesh\n") {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", errors.New("not inside the claudemesh repository; pass --broker-bin")
		}
	}
}

// Build compiles cmd/broker of repo into out.
func Build(ctx context.Context, repo, out string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, "./cmd/broker")
	cmd.Dir = repo
	if msg, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./cmd/broker: %w\n%s", err, msg)
	}
	return nil
}

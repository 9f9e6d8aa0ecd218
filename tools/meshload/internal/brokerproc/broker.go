// Package brokerproc starts a claudemesh broker as a child process for a
// benchmark (its own temp data directory, limits suited to the scenario),
// reads its memory from /proc, and starts a throwaway PostgreSQL.
package brokerproc

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"
)

// Options says which broker to start and how.
type Options struct {
	Bin         string            // broker binary (claudemesh-broker)
	DatabaseURL string            // empty: SQLite in the temp directory
	Settings    map[string]string // environment settings (MAX_CONNECTIONS_PER_MESH...)
	KeepDir     bool              // keep the data directory and log after Stop
}

// Proc is a running broker.
type Proc struct {
	URL string // http://127.0.0.1:port
	PID int
	// PprofAddr is the broker's net/http/pprof listener (host:port on
	// loopback), for the benchmark's profiles; empty if it did not report one.
	PprofAddr string
	Backend   string // sqlite | postgres
	Dir       string
	LogPath   string
	cmd       *exec.Cmd
	exited    chan struct{}
	keep      bool
}

// Start runs `<bin> serve` on a free loopback port with a fresh data
// directory and waits until GET /health answers 200.
func Start(ctx context.Context, opts Options) (*Proc, error) {
	dir, err := os.MkdirTemp("", "meshload-broker-")
	if err != nil {
		return nil, err
	}
	p := &Proc{Dir: dir, LogPath: filepath.Join(dir, "broker.log"), Backend: "sqlite", exited: make(chan struct{}), keep: opts.KeepDir}
	if opts.DatabaseURL != "" {
		p.Backend = "postgres"
	}
	logFile, err := os.Create(p.LogPath)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	env := map[string]string{
		"BROKER_HOST": "127.0.0.1", "BROKER_PORT": "0", "BROKER_DATA_DIR": filepath.Join(dir, "data"),
		"DATABASE_URL": opts.DatabaseURL, "LOG_FORMAT": "json", "LOG_LEVEL": "info",
		// Port 0: the broker picks a free loopback port and logs it, so
		// there is no window in which another process can take it.
		"BROKER_PPROF_ADDR": "127.0.0.1:0",
	}
	for k, v := range opts.Settings {
		env[k] = v
	}
	p.cmd = exec.Command(opts.Bin, "serve")
	p.cmd.Env = mergeEnv(os.Environ(), env)
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		logFile.Close()
		os.RemoveAll(dir)
		return nil, err
	}
	p.cmd.Stdout = logFile
	if err := p.cmd.Start(); err != nil {
		logFile.Close()
		os.RemoveAll(dir)
		return nil, fmt.Errorf("starting %s: %w", opts.Bin, err)
	}
	p.PID = p.cmd.Process.Pid
	addr := make(chan listening, 1)
	go p.scanLog(stderr, logFile, addr)
	go func() { _ = p.cmd.Wait(); logFile.Close(); close(p.exited) }()
	if err := p.waitReady(ctx, addr); err != nil {
		p.Stop()
		return nil, fmt.Errorf("%w (broker log: %s)", err, p.tail())
	}
	return p, nil
}

// listening is what the broker's startup log says about its listeners.
type listening struct{ addr, pprof string }

// scanLog copies the broker's stderr to its log file and reports the
// addresses from the "pprof listening" and "broker listening" lines (the
// ports were 0); the broker logs pprof's first.
func (p *Proc) scanLog(r io.Reader, w io.Writer, addr chan<- listening) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	found := false
	pprofAddr := ""
	for sc.Scan() {
		line := sc.Bytes()
		_, _ = w.Write(line)
		_, _ = w.Write([]byte{'\n'})
		if found {
			continue
		}
		var rec struct {
			Msg  string `json:"msg"`
			Addr string `json:"addr"`
		}
		if json.Unmarshal(line, &rec) != nil || rec.Addr == "" {
			continue
		}
		switch rec.Msg {
		case "pprof listening":
			pprofAddr = rec.Addr
		case "broker listening":
			found = true
			addr <- listening{addr: rec.Addr, pprof: pprofAddr}
		}
	}
	_, _ = io.Copy(w, r)
}

func (p *Proc) waitReady(ctx context.Context, addr <-chan listening) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	select {
	case a := <-addr:
		p.URL, p.PprofAddr = "http://"+a.addr, a.pprof
	case <-p.exited:
		return errors.New("the broker exited during startup")
	case <-ctx.Done():
		return errors.New("the broker did not report its address within 60 s")
	}
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, p.URL+"/health", nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-p.exited:
			return errors.New("the broker exited during startup")
		case <-ctx.Done():
			return fmt.Errorf("GET %s/health did not answer 200 within 60 s", p.URL)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Stop sends SIGTERM (the broker drains), kills it after 30 s, and removes
// its directory unless KeepDir was set.
func (p *Proc) Stop() error {
	var err error
	if p.cmd.Process != nil {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.exited:
		case <-time.After(30 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.exited
			err = errors.New("the broker did not stop within 30 s of SIGTERM; killed")
		}
	}
	if !p.keep {
		os.RemoveAll(p.Dir)
	}
	return err
}

// tail returns the end of the broker log for error messages.
func (p *Proc) tail() string {
	data, _ := os.ReadFile(p.LogPath)
	if len(data) > 2000 {
		data = data[len(data)-2000:]
	}
	return strings.TrimSpace(string(data))
}

func mergeEnv(base []string, set map[string]string) []string {
	out := make([]string, 0, len(base)+len(set))
	for _, kv := range base {
		k, _, _ := strings.Cut(kv, "=")
		if _, overridden := set[k]; !overridden {
			out = append(out, kv)
		}
	}
	keys := make([]string, 0, len(set))
	for k := range set {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		out = append(out, k+"="+set[k])
	}
	return out
}

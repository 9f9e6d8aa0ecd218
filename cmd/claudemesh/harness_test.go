package main_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/claudemesh/claudemesh/internal/broker"
	"github.com/claudemesh/claudemesh/internal/config"
	"github.com/claudemesh/claudemesh/internal/protocol"
	"github.com/claudemesh/claudemesh/internal/server"
)

// cliBin is the claudemesh binary built once for every test here: the CLI
// is tested as users run it, against real brokers.
var cliBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "claudemesh-cli-bin")
	if err != nil {
		panic(err)
	}
	cliBin = filepath.Join(dir, "claudemesh")
	if out, err := exec.Command("go", "build", "-o", cliBin, ".").CombinedOutput(); err != nil {
		panic(fmt.Sprintf("building the CLI: %v\n%s", err, out))
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// testBroker is an in-process broker on a random loopback port (SQLite in
// a temp dir). The CLI's own behaviour does not depend on the store backend,
// which the broker and store suites cover on both.
type testBroker struct {
	srv *server.Server
	URL string // http://127.0.0.1:port
}

func startBroker(t *testing.T, tweaks ...func(*config.Broker)) *testBroker {
	t.Helper()
	cfg := brokerConfig(t)
	for _, tw := range tweaks {
		tw(&cfg)
	}
	srv := runBroker(t, cfg)
	t.Cleanup(func() { shutdownBroker(srv) })
	return &testBroker{srv: srv, URL: "http://" + srv.Addr}
}

// brokerConfig is a broker on a random loopback port with SQLite in a temp
// dir and no HTTP rate limit.
func brokerConfig(t *testing.T) config.Broker {
	t.Helper()
	cfg, err := config.Resolve(nil, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	cfg.Port, cfg.PublicURL, cfg.DataDir = 0, "http://127.0.0.1:0", t.TempDir()
	cfg.HTTPRateLimitPerMin = 1_000_000
	return cfg
}

func runBroker(t *testing.T, cfg config.Broker) *server.Server {
	t.Helper()
	srv, err := server.Start(context.Background(), cfg, broker.Options{
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Version: "test", MemberPollInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatalf("start broker: %v", err)
	}
	return srv
}

func shutdownBroker(srv *server.Server) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = srv.Shutdown(ctx)
}

// user is one person's machine: a config dir and a HOME.
type user struct {
	t    *testing.T
	dir  string // CLAUDEMESH_CONFIG_DIR
	home string
	name string
	env  []string // extra KEY=VALUE
}

func newUser(t *testing.T, name string) *user {
	root := t.TempDir()
	u := &user{t: t, dir: filepath.Join(root, "claudemesh"), home: filepath.Join(root, "home"), name: name}
	if err := os.MkdirAll(u.home, 0o755); err != nil {
		t.Fatal(err)
	}
	return u
}

// result is one finished CLI run.
type result struct {
	stdout, stderr string
	code           int
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

// runIn executes the CLI as this user, with stdin, and checks the config
// modes afterwards.
func (u *user) runIn(stdin string, args ...string) result {
	u.t.Helper()
	r := u.exec(stdin, args...)
	u.assertConfigPrivate()
	return r
}

// runUnchecked runs the CLI without asserting the config modes afterwards,
// for tests that loosen them on purpose (doctor).
func (u *user) runUnchecked(args ...string) result {
	u.t.Helper()
	return u.exec("", args...)
}

// exec runs the built binary with this user's environment and a 60 s limit.
func (u *user) exec(stdin string, args ...string) result {
	u.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, cliBin, args...)
	cmd.Env = append([]string{"CLAUDEMESH_CONFIG_DIR=" + u.dir, "HOME=" + u.home, "USER=" + u.name,
		"PATH=" + os.Getenv("PATH"), "NO_COLOR=1"}, u.env...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	default:
		u.t.Fatalf("running claudemesh %s: %v", strings.Join(args, " "), err)
	}
	return r
}

func (u *user) run(args ...string) result { u.t.Helper(); return u.runIn("", args...) }

// must runs a command that has to succeed.
func (u *user) must(args ...string) result {
	u.t.Helper()
	r := u.run(args...)
	if r.code != 0 {
		u.t.Fatalf("claudemesh %s failed:\n%s", strings.Join(args, " "), r)
	}
	return r
}

// assertConfigPrivate checks the cli.md modes after every command.
func (u *user) assertConfigPrivate() {
	u.t.Helper()
	for path, want := range map[string]os.FileMode{u.dir: 0o700, filepath.Join(u.dir, "config.json"): 0o600} {
		st, err := os.Stat(path)
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			u.t.Fatal(err)
		}
		if st.Mode().Perm() != want {
			u.t.Fatalf("%s has mode %o after a command, want %o", path, st.Mode().Perm(), want)
		}
	}
}

// deadBrokerURL is an http URL of a loopback port nothing listens on: bound
// once, then freed.
func deadBrokerURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return "http://" + ln.Addr().String()
}

// peerNames is the sorted display names `peers --json` lists for u.
func peerNames(t *testing.T, u *user) []string {
	t.Helper()
	r := u.must("peers", "--json")
	var peers []protocol.Peer
	if err := json.Unmarshal([]byte(r.stdout), &peers); err != nil {
		t.Fatalf("peers --json: %v\n%s", err, r)
	}
	var names []string
	for _, p := range peers {
		names = append(names, p.DisplayName)
	}
	slices.Sort(names)
	return names
}

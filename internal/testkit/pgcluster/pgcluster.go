// Package pgcluster starts a throwaway PostgreSQL cluster that a test may
// stop and start (database outages), the way scripts/pg-throwaway.sh does:
// initdb and pg_ctl from PATH or /usr/lib/postgresql/*/bin, run as the
// `postgres` user when the test runs as root, on a free loopback port. The
// shared test cluster (CLAUDEMESH_TEST_DATABASE_URL) must never be stopped;
// this one belongs to its test and is removed in t.Cleanup.
package pgcluster

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/claudemesh/claudemesh/internal/store/storetest"
)

// Cluster is one running (or stopped) throwaway PostgreSQL.
type Cluster struct {
	t    testing.TB
	bin  string // directory holding initdb, pg_ctl
	root string // data, log and socket directory
	port int
}

// Start creates and starts a cluster. Without PostgreSQL server binaries
// the test is skipped with a clear message, or failed under CI (CI set or
// CLAUDEMESH_REQUIRE_POSTGRES=1), where it must run.
func Start(t testing.TB) *Cluster {
	t.Helper()
	bin := findBin()
	if bin == "" {
		msg := "no PostgreSQL server binaries (initdb, pg_ctl) in PATH or /usr/lib/postgresql/*/bin: database outage test not run; install the 'postgresql' package"
		if os.Getenv("CI") != "" || os.Getenv(storetest.EnvRequirePostgres) == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	root, err := os.MkdirTemp("", "claudemesh-pgcluster")
	if err != nil {
		t.Fatal(err)
	}
	c := &Cluster{t: t, bin: bin, root: root, port: freePort(t)}
	t.Cleanup(func() {
		_ = c.pgctl("-m", "immediate", "stop")
		os.RemoveAll(root)
	})
	if err := os.Chmod(root, 0o755); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 { // initdb refuses root: hand the directory to postgres
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("running as root needs a postgres system user: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(root, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := c.asPostgres(filepath.Join(bin, "initdb"), "-D", c.data(), "-A", "trust", "-U", "postgres", "--no-sync").CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	c.Start()
	return c
}

// URL is the cluster's postgres database.
func (c *Cluster) URL() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", c.port)
}

// Start starts the (stopped) cluster and waits until it accepts connections.
func (c *Cluster) Start() {
	c.t.Helper()
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200", c.port, c.root)
	if err := c.pgctl("-l", filepath.Join(c.root, "log"), "-w", "-o", opts, "start"); err != nil {
		log, _ := os.ReadFile(filepath.Join(c.root, "log"))
		c.t.Fatalf("pg_ctl start: %v\n%s", err, log)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		conn, err := pgx.Connect(ctx, c.URL())
		if err == nil {
			conn.Close(ctx)
			cancel()
			return
		}
		cancel()
		if time.Now().After(deadline) {
			c.t.Fatalf("PostgreSQL on port %d never accepted connections: %v", c.port, err)
		}
		time.Sleep(50 * time.Millisecond) // polling interval, bounded by the deadline
	}
}

// Stop shuts the cluster down (fast mode: open sessions are terminated,
// as in a database restart or failover) and returns once it is down.
func (c *Cluster) Stop() {
	c.t.Helper()
	if err := c.pgctl("-m", "fast", "-w", "stop"); err != nil {
		c.t.Fatalf("pg_ctl stop: %v", err)
	}
}

func (c *Cluster) data() string { return filepath.Join(c.root, "data") }

func (c *Cluster) pgctl(args ...string) error {
	args = append([]string{"-D", c.data()}, args...)
	out, err := c.asPostgres(filepath.Join(c.bin, "pg_ctl"), args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%w: %s", err, out)
	}
	return nil
}

// asPostgres runs a server binary as the postgres user when we are root.
func (c *Cluster) asPostgres(name string, args ...string) *exec.Cmd {
	if os.Geteuid() != 0 {
		return exec.Command(name, args...)
	}
	quoted := []string{shellQuote(name)}
	for _, a := range args {
		quoted = append(quoted, shellQuote(a))
	}
	return exec.Command("su", "postgres", "-s", "/bin/sh", "-c", strings.Join(quoted, " "))
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

func findBin() string {
	dirs := []string{}
	if p, err := exec.LookPath("initdb"); err == nil {
		dirs = append(dirs, filepath.Dir(p))
	}
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	dirs = append(dirs, matches...)
	dirs = append(dirs, "/usr/local/bin")
	for _, d := range dirs {
		if isExec(filepath.Join(d, "initdb")) && isExec(filepath.Join(d, "pg_ctl")) {
			return d
		}
	}
	return ""
}

func isExec(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir() && st.Mode()&0o111 != 0
}

func freePort(t testing.TB) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

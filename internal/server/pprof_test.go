package server_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/claudemesh/claudemesh/internal/broker"
	"github.com/claudemesh/claudemesh/internal/server"
)

// The profiler is served only on its own loopback listener, never on the
// public port, and stops with the broker.
func TestPprofOnlyOnItsOwnListener(t *testing.T) {
	cfg := sqliteConfig(t, t.TempDir())
	cfg.PprofAddr = "127.0.0.1:0"
	srv, err := server.Start(context.Background(), cfg, broker.Options{})
	if err != nil {
		t.Fatal(err)
	}
	get := func(url string) int {
		resp, err := http.Get(url)
		if err != nil {
			return -1
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := get("http://" + srv.PprofAddr + "/debug/pprof/"); code != 200 {
		t.Fatalf("pprof listener answered %d", code)
	}
	if code := get("http://" + srv.Addr + "/debug/pprof/"); code == 200 {
		t.Fatal("the public port serves pprof")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if code := get("http://" + srv.PprofAddr + "/debug/pprof/"); code != -1 {
		t.Fatalf("pprof still answers after shutdown: %d", code)
	}
}

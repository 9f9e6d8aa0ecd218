package scenario

import (
	"context"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/claudemesh/claudemesh/internal/broker"
	"github.com/claudemesh/claudemesh/internal/config"
	"github.com/claudemesh/claudemesh/internal/server"
	"github.com/claudemesh/claudemesh/internal/store/storetest"
	"github.com/claudemesh/claudemesh/tools/meshload/internal/relay"
)

// startBroker runs a real broker in-process on a random loopback port,
// with the limits meshload's --spawn would set.
func startBroker(t *testing.T, databaseURL, dataDir string, perMesh int) Env {
	t.Helper()
	settings := map[string]string{
		"BROKER_PORT": "0", "BROKER_DATA_DIR": dataDir, "DATABASE_URL": databaseURL, "LOG_LEVEL": "error",
		"MAX_CONNECTIONS_PER_MESH": strconv.Itoa(perMesh + 4), "HTTP_RATE_LIMIT_PER_MIN": "1000000", "SEND_RATE_PER_SEC": "1000000",
	}
	cfg, err := config.Resolve(nil, func(k string) string { return settings[k] })
	if err != nil {
		t.Fatal(err)
	}
	if dataDir == "" {
		cfg.DataDir = t.TempDir() // the data key file lives here even on PostgreSQL
	}
	srv, err := server.Start(context.Background(), cfg, broker.Options{Logger: slog.New(slog.DiscardHandler), Version: "test"})
	if err != nil {
		t.Fatalf("starting the broker: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	})
	backend := "sqlite"
	if databaseURL != "" {
		backend = "postgres"
	}
	// The broker runs in this process, so RSS readings are the test's own.
	return Env{URL: "http://" + srv.Addr, PID: os.Getpid(), Backend: backend}
}

func sqliteBroker(t *testing.T, perMesh int) Env { return startBroker(t, "", t.TempDir(), perMesh) }

func run(t *testing.T, name string, env Env, o Options) *Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	r, err := Run(ctx, name, env, o)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return r
}

// checkClean asserts a message run verified: something was acked, every
// intended delivery arrived once, every push decrypted.
func checkClean(t *testing.T, r *Result) {
	t.Helper()
	c := r.Counts
	if r.Failed() {
		t.Fatalf("run failed: %v", r.Failures)
	}
	if c.Acked == 0 || c.Lost != 0 || c.Misrouted != 0 || c.Unacked != 0 || c.Delivered != c.Expected {
		t.Fatalf("counts = %+v", c)
	}
	if r.Decrypt != 0 || r.CountMismatch != 0 || len(r.Errors) != 0 {
		t.Fatalf("decrypt failures %d, ack count mismatches %d, errors %v", r.Decrypt, r.CountMismatch, r.Errors)
	}
	if r.AckLatency.Count != int(c.Acked) {
		t.Fatalf("ack latency samples %d, acked %d", r.AckLatency.Count, c.Acked)
	}
}

func TestDMVerifiesEveryDelivery(t *testing.T) {
	for _, b := range storetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			url, dir := b.DSN(t)
			env := startBroker(t, url, dir, 8)
			r := run(t, "dm", env, Options{Sessions: 8, Duration: 700 * time.Millisecond, Window: 4})
			checkClean(t, r)
			if r.Counts.Expected != r.Counts.Acked || r.EndToEnd.Count != int(r.Counts.Acked) {
				t.Fatalf("a DM has one recipient: counts %+v, end-to-end samples %d", r.Counts, r.EndToEnd.Count)
			}
			if r.Sent != r.Counts.Acked {
				t.Fatalf("sent %d, acked %d: every send must be answered", r.Sent, r.Counts.Acked)
			}
			if r.RSS == nil || r.RSS.PeakMB <= 0 {
				t.Fatalf("RSS not reported: %+v", r.RSS)
			}
			if r.Backend != b.Name || r.Throughput <= 0 {
				t.Fatalf("backend %q, throughput %v", r.Backend, r.Throughput)
			}
		})
	}
}

func TestDMAtFixedRateStaysUnderTheRate(t *testing.T) {
	env := sqliteBroker(t, 5)
	const rate, sessions = 100, 5
	d := 600 * time.Millisecond
	r := run(t, "dm", env, Options{Sessions: sessions, Duration: d, Rate: rate, Window: 4})
	checkClean(t, r)
	// Each session sends once per sessions/rate from a phase inside the
	// first interval, so the schedule caps the total.
	limit := int64(rate*d.Seconds()) + sessions
	if r.Sent > limit {
		t.Fatalf("sent %d messages, the schedule allows at most %d", r.Sent, limit)
	}
}

func TestBroadcastReachesEveryOtherSession(t *testing.T) {
	env := sqliteBroker(t, 6)
	r := run(t, "broadcast", env, Options{Sessions: 6, Senders: 2, Rate: 20, Duration: 500 * time.Millisecond, Window: 4})
	checkClean(t, r)
	if r.Counts.Expected != 5*r.Counts.Acked {
		t.Fatalf("each broadcast must be expected at the 5 other sessions: %+v", r.Counts)
	}
	if r.EndToEnd.Count != int(r.Counts.Acked) {
		t.Fatalf("end-to-end samples %d, broadcasts %d", r.EndToEnd.Count, r.Counts.Acked)
	}
}

func TestHeldMessagesFlowAfterTheFlip(t *testing.T) {
	env := sqliteBroker(t, 5)
	r := run(t, "held", env, Options{Senders: 2, Recipients: 3, Held: 4, FlipGap: 10 * time.Millisecond})
	checkClean(t, r)
	if r.Counts.Acked != 12 || r.Early != 0 {
		t.Fatalf("acked %d (want 12), early %d", r.Counts.Acked, r.Early)
	}
	if r.EndToEnd.Count != 3 {
		t.Fatalf("want one flip latency per recipient, got %d", r.EndToEnd.Count)
	}
}

func TestConnectHoldsEverySession(t *testing.T) {
	env := sqliteBroker(t, 10)
	r := run(t, "connect", env, Options{Sessions: 25, MeshSize: 10, Hold: 200 * time.Millisecond, DialConcurrency: 8})
	if r.Failed() {
		t.Fatalf("run failed: %v", r.Failures)
	}
	h := r.Hello
	if h == nil || h.Sessions != 25 || h.Meshes != 3 || h.Dropped != 0 || h.Rate <= 0 || h.Latency.Count != 25 {
		t.Fatalf("hello stats = %+v", h)
	}
	if r.RSS == nil || r.RSS.EndMB <= 0 {
		t.Fatalf("RSS not reported: %+v", r.RSS)
	}
}

func TestCapacityRefusalIsAnError(t *testing.T) {
	env := sqliteBroker(t, 0) // the cap is 4 authenticated connections per mesh
	_, err := Run(context.Background(), "dm", env, Options{Sessions: 6, Duration: 100 * time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "capacity") {
		t.Fatalf("want a capacity refusal, got %v", err)
	}
}

func TestRelayBaselineVerifies(t *testing.T) {
	s, err := relay.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	r := run(t, "dm", Env{URL: s.URL, Relay: true, Backend: "relay"}, Options{Sessions: 6, Duration: 400 * time.Millisecond, Window: 4})
	checkClean(t, r)
	if r.Target != "relay" {
		t.Fatalf("target %q", r.Target)
	}
}

// A relay that acks but drops every 7th push: the run must report the
// loss and fail.
func TestLostMessageIsDetected(t *testing.T) {
	s, err := relay.StartLossy("127.0.0.1:0", 7)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	r := run(t, "dm", Env{URL: s.URL, Relay: true, Backend: "relay"},
		Options{Sessions: 4, Duration: 300 * time.Millisecond, Window: 2, Drain: 300 * time.Millisecond})
	if r.Counts.Acked < 7 {
		t.Fatalf("too few messages to lose one: %+v", r.Counts)
	}
	want := r.Counts.Acked / 7
	if r.Counts.Lost != want || !r.Failed() || !strings.Contains(strings.Join(r.Failures, ";"), "lost") {
		t.Fatalf("lost %d (want %d), failures %v", r.Counts.Lost, want, r.Failures)
	}
	if r.Counts.Delivered != r.Counts.Acked-want {
		t.Fatalf("delivered %d of %d acked with %d dropped", r.Counts.Delivered, r.Counts.Acked, want)
	}
}

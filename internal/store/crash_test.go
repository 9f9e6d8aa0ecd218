package store_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/claudemesh/claudemesh/internal/store"
)

// envCrashChild makes the test binary act as a committing broker (see TestMain).
const envCrashChild = "CLAUDEMESH_STORE_CRASH_CHILD"

func TestMain(m *testing.M) {
	if dir := os.Getenv(envCrashChild); dir != "" {
		crashChild(dir)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// crashChild commits batches forever, printing each id once it is acked.
func crashChild(dir string) {
	ctx := context.Background()
	s, err := store.OpenSQLite(ctx, dir)
	if err != nil {
		fmt.Println("error", err)
		return
	}
	f := &fixture{s: s, mesh: store.Mesh{ID: "mesh1"}, alice: store.Member{ID: "alice"},
		bob: store.Member{ID: "bob", DisplayName: "Bob"}}
	for n := 0; ; n++ {
		var msgs []store.NewMessage
		for i := range 8 {
			msgs = append(msgs, f.msg(fmt.Sprintf("c-%d-%d", n, i), to(f.bob, "")))
		}
		if _, err := s.CommitMessages(ctx, msgs, 0); err != nil {
			fmt.Println("error", err)
			return
		}
		for _, m := range msgs {
			fmt.Println("acked", m.ID)
		}
	}
}

// TestSQLiteAckedSurvivesKill: every message acked before a SIGKILL is in
// the database afterwards (WAL, synchronous=NORMAL).
func TestSQLiteAckedSurvivesKill(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	s, err := store.OpenSQLite(ctx, dir)
	must(t, err)
	f := newFixture(t, s)
	must(t, s.Close())

	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envCrashChild+"="+dir)
	out, err := cmd.StdoutPipe()
	must(t, err)
	must(t, cmd.Start())
	var acked []string
	sc := bufio.NewScanner(out)
	for len(acked) < 400 && sc.Scan() {
		line := sc.Text()
		id, ok := strings.CutPrefix(line, "acked ")
		if !ok {
			t.Fatalf("child: %s", line)
		}
		acked = append(acked, id)
	}
	must(t, cmd.Process.Kill()) // SIGKILL: no deferred cleanup, no checkpoint
	cmd.Wait()
	if len(acked) < 400 {
		t.Fatalf("child stopped after %d acks", len(acked))
	}

	s, err = store.OpenSQLite(ctx, dir)
	must(t, err)
	defer s.Close()
	ds, err := s.PendingForSession(ctx, f.mesh.ID, f.bob.ID, "", time.Unix(0, 0), 0, 0)
	must(t, err)
	have := map[string]bool{}
	for _, d := range ds {
		have[d.MessageID] = true
	}
	for _, id := range acked {
		if !have[id] {
			t.Fatalf("acked message %s lost (%d of %d acked found)", id, len(have), len(acked))
		}
	}
}

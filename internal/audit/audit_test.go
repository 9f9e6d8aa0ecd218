package audit_test

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/claudemesh/claudemesh/internal/audit"
	"github.com/claudemesh/claudemesh/internal/broker"
	"github.com/claudemesh/claudemesh/internal/store"
	"github.com/claudemesh/claudemesh/internal/store/storetest"
)

// twoNodes opens two stores on one database, as two brokers would.
func twoNodes(t *testing.T, b storetest.Backend) (st1, st2 store.Store, execSQL func(string)) {
	dbURL, dir := b.DSN(t)
	open := func() store.Store {
		s, err := store.Open(context.Background(), store.Config{DatabaseURL: dbURL, DataDir: dir})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	st1, st2 = open(), open()
	driver, dsn := "pgx", dbURL
	if dbURL == "" {
		driver, dsn = "sqlite", "file:"+filepath.Join(dir, store.SQLiteFile)+"?_pragma=busy_timeout(5000)"
	}
	execSQL = func(q string) {
		t.Helper()
		db, err := sql.Open(driver, dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	return st1, st2, execSQL
}

// TestConcurrentWritersKeepOneChain: two recorders (two brokers) and direct
// batch appends race on one mesh; the result is one unbroken chain with
// every row, and a row altered in the database is then reported.
func TestConcurrentWritersKeepOneChain(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b storetest.Backend) {
		ctx := context.Background()
		st1, st2, execSQL := twoNodes(t, b)
		mesh := store.Mesh{ID: "mesh_audit", Name: "a", Slug: "a", OwnerPubkey: strings.Repeat("ab", 32), CreatedAt: time.Now()}
		if err := st1.CreateMesh(ctx, mesh); err != nil {
			t.Fatal(err)
		}
		log := slog.New(slog.NewTextHandler(io.Discard, nil))
		recs := []*audit.Recorder{audit.NewRecorder(st1, log), audit.NewRecorder(st2, log)}
		const perWriter, writers, batches = 200, 4, 10
		var wg sync.WaitGroup
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range perWriter {
					recs[w%2].Record(broker.AuditEvent{MeshID: mesh.ID, Event: "message_sent", Actor: "k",
						Details: map[string]any{"message_id": fmt.Sprintf("m%d-%d", w, i), "size_bytes": i, "priority": "now"}})
				}
			}()
		}
		for s, st := range []store.Store{st1, st2} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range batches {
					entries := []store.AuditEntry{
						{MeshID: mesh.ID, Event: "state_set", Details: map[string]any{"key": fmt.Sprintf("k%d-%d", s, i)}},
						{MeshID: mesh.ID, Event: "state_set", Details: map[string]any{"key": "x"}},
						{MeshID: "mesh_unknown", Event: "auth_failed"}, // dropped: no such mesh
					}
					if err := st.AppendAudit(ctx, entries); err != nil {
						t.Error(err)
					}
				}
			}()
		}
		wg.Wait()
		for _, r := range recs {
			if err := r.Close(ctx); err != nil {
				t.Fatal(err)
			}
			if r.Dropped() != 0 {
				t.Fatalf("recorder dropped %d events", r.Dropped())
			}
		}
		want := int64(writers*perWriter + 2*batches*2)
		res, err := audit.Verify(ctx, st2, mesh.ID)
		if err != nil || res.Broken != nil || res.Rows != want {
			t.Fatalf("verify: rows %d (want %d), broken %+v, err %v", res.Rows, want, res.Broken, err)
		}

		execSQL(`UPDATE audit_log SET details = '{"key":"forged"}' WHERE mesh_id = 'mesh_audit' AND seq = 17`)
		res, err = audit.Verify(ctx, st1, mesh.ID)
		if err != nil || res.Broken == nil || res.Broken.Seq != 17 || res.Rows != 16 {
			t.Fatalf("after altering row 17: %+v, %v", res, err)
		}
	})
}

// TestVerifyReportsARemovedTail: deleting the newest rows leaves a valid
// prefix, but the head row still names the last row.
func TestVerifyReportsARemovedTail(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b storetest.Backend) {
		ctx := context.Background()
		st, _, execSQL := twoNodes(t, b)
		mesh := store.Mesh{ID: "m1", Name: "a", Slug: "a", OwnerPubkey: strings.Repeat("ab", 32), CreatedAt: time.Now()}
		if err := st.CreateMesh(ctx, mesh); err != nil {
			t.Fatal(err)
		}
		var entries []store.AuditEntry
		for i := range 5 {
			entries = append(entries, store.AuditEntry{MeshID: "m1", Event: "state_set", Details: map[string]any{"key": i}})
		}
		if err := st.AppendAudit(ctx, entries); err != nil {
			t.Fatal(err)
		}
		head, err := st.GetAuditHead(ctx, "m1")
		if err != nil || head.Seq != 5 {
			t.Fatalf("head %+v, %v", head, err)
		}
		rows, err := st.ListAudit(ctx, "m1", 0, 2)
		if err != nil || len(rows) != 2 || rows[0].Seq != 5 || rows[1].PrevHash != mustRow(t, st, 3).Hash {
			t.Fatalf("newest-first listing: %+v, %v", rows, err)
		}
		execSQL(`DELETE FROM audit_log WHERE mesh_id = 'm1' AND seq = 5`)
		res, err := audit.Verify(ctx, st, "m1")
		if err != nil || res.Broken == nil || res.Broken.Seq != 5 || res.Rows != 4 {
			t.Fatalf("after deleting the tail: %+v, %v", res, err)
		}
	})
}

func forEachBackend(t *testing.T, fn func(t *testing.T, b storetest.Backend)) {
	for _, b := range storetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) { fn(t, b) })
	}
}

func mustRow(t *testing.T, st store.Store, seq int64) store.AuditRecord {
	rows, err := st.AuditAfter(context.Background(), "m1", seq-1, 1)
	if err != nil || len(rows) != 1 {
		t.Fatalf("row %d: %v", seq, err)
	}
	return rows[0]
}

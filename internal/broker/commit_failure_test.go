package broker_test

import (
	"context"
	"database/sql"
	"fmt"
	"testing"

	"github.com/claudemesh/claudemesh/internal/audit"
	"github.com/claudemesh/claudemesh/internal/protocol"
	"github.com/claudemesh/claudemesh/internal/store/storetest"
	"github.com/claudemesh/claudemesh/internal/testkit"
)

// commitFault makes the database itself refuse message inserts on demand:
// a trigger raises an error inside the batch transaction, so the commit
// really fails and rolls back (rows, deliveries and audit rows alike).
type commitFault struct {
	t  *testing.T
	db *sql.DB
	on string // the value that turns the fault on
}

func installCommitFault(t *testing.T, backend, databaseURL, dataDir string) *commitFault {
	db := storetest.RawDB(t, databaseURL, dataDir)
	stmts := []string{
		`CREATE TABLE test_fault (fail INTEGER NOT NULL)`,
		`INSERT INTO test_fault VALUES (0)`,
		`CREATE TRIGGER test_fail_commit BEFORE INSERT ON messages
		 WHEN (SELECT fail FROM test_fault) = 1
		 BEGIN SELECT RAISE(ABORT, 'injected commit fault'); END`,
	}
	if backend == "postgres" {
		stmts = []string{
			`CREATE TABLE test_fault (fail INTEGER NOT NULL)`,
			`INSERT INTO test_fault VALUES (0)`,
			`CREATE FUNCTION test_fail_commit() RETURNS trigger LANGUAGE plpgsql AS $$
			 BEGIN
			   IF (SELECT fail FROM test_fault) = 1 THEN RAISE EXCEPTION 'injected commit fault'; END IF;
			   RETURN NEW;
			 END $$`,
			`CREATE TRIGGER test_fail_commit BEFORE INSERT ON messages
			 FOR EACH STATEMENT EXECUTE FUNCTION test_fail_commit()`,
		}
	}
	for _, q := range stmts {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	return &commitFault{t: t, db: db}
}

func (f *commitFault) set(on bool) {
	v := 0
	if on {
		v = 1
	}
	if _, err := f.db.Exec(fmt.Sprintf(`UPDATE test_fault SET fail = %d`, v)); err != nil {
		f.t.Fatal(err)
	}
}

func (f *commitFault) count(q string) int {
	var n int
	if err := f.db.QueryRow(q).Scan(&n); err != nil {
		f.t.Fatalf("%s: %v", q, err)
	}
	return n
}

// TestFailedCommitIsNeverAcked: when the batch transaction fails, every
// send in it gets unavailable and no ack, nothing of it is stored, pushed
// or audited, and the next batch commits and is acked as usual.
func TestFailedCommitIsNeverAcked(t *testing.T) {
	for _, b := range storetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			cfg := testConfig(t, b)
			h := startWithConfig(t, cfg)
			fault := installCommitFault(t, b.Name, cfg.DatabaseURL, cfg.DataDir)
			alice, bob := h.addMember("alice"), h.addMember("bob")
			ac, bc := alice.connect(), bob.connect()

			sendAcked(t, ac, "bob", "now", "before")
			if p := nextPush(bc); p["ciphertext"] != "before" {
				t.Fatalf("push = %v", p)
			}

			fault.set(true)
			const failing = 5 // pipelined: they may share a batch or not
			var ids []string
			for i := range failing {
				ids = append(ids, send(ac, "bob", "now", fmt.Sprintf("lost-%d", i)))
			}
			for _, id := range ids {
				expectError(t, ac, id, protocol.CodeUnavailable)
			}

			fault.set(false)
			after := sendAcked(t, ac, "bob", "now", "after")
			if p := nextPush(bc); p["ciphertext"] != "after" || p["messageId"] != after {
				t.Fatalf("push after the failure = %v, want the message sent after it", p)
			}
			for _, f := range append(ac.Frames(), bc.Frames()...) {
				if f["type"] == "ack" || testkit.Push(f) {
					t.Fatalf("unexpected frame after a failed commit: %v", f)
				}
			}

			if n := fault.count(`SELECT COUNT(*) FROM messages`); n != 2 {
				t.Fatalf("%d messages stored, want 2 (the failed batch wrote nothing)", n)
			}
			if n := fault.count(`SELECT COUNT(*) FROM audit_log WHERE event = 'message_sent'`); n != 2 {
				t.Fatalf("%d message_sent audit rows, want 2", n)
			}
			res, err := audit.Verify(context.Background(), h.st, h.mesh.ID)
			if err != nil || res.Broken != nil {
				t.Fatalf("audit chain after a failed commit: %+v, %v", res, err)
			}
		})
	}
}

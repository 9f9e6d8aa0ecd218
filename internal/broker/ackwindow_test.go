package broker_test

import (
	"context"
	"testing"
	"time"

	"github.com/claudemesh/claudemesh/internal/store/storetest"
	"github.com/claudemesh/claudemesh/internal/testkit"
)

// A sync that runs after the client acked a push but before the broker
// committed the delivered mark reads the row as still pending; it must not
// push the message again. The test holds the mark back with a row lock,
// which only PostgreSQL allows while reads go on (SQLite has one writer).
func TestAckedPushIsNotRepushedBeforeItsMarkCommits(t *testing.T) {
	var pg *storetest.Backend
	for _, b := range storetest.Backends(t) {
		if b.Name == "postgres" {
			pg = &b
		}
	}
	if pg == nil {
		t.Skip("needs PostgreSQL (set CLAUDEMESH_TEST_DATABASE_URL)")
	}
	cfg := testConfig(t, *pg)
	h := startWithConfig(t, cfg)
	db := storetest.RawDB(t, cfg.DatabaseURL, cfg.DataDir)
	alice, bob := h.addMember("alice"), h.addMember("bob")
	ac := alice.connect()
	bc := bob.connect(withSession("bob-1"), func(hl *testkit.Hello) { hl.ClientAck = true })
	id := sendAcked(t, ac, "bob", "now", "ack-once")
	bc.WaitFor(pushWithCiphertext("ack-once"))

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `SELECT 1 FROM deliveries d JOIN messages m ON m.seq = d.message_seq
		WHERE m.id = $1 FOR UPDATE`, id); err != nil {
		t.Fatal(err)
	}
	bc.Send(map[string]any{"type": "client_ack", "messageId": id})
	// fetch_pending syncs the session from the store while the mark waits.
	if ok := request(bc, map[string]any{"type": "fetch_pending"}); ok["count"] != float64(0) {
		t.Fatalf("fetch_pending after the ack pushed again: %v", ok)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	// WaitFor consumed the first push; any frame left is a second one.
	for _, f := range bc.Frames() {
		if pushWithCiphertext("ack-once")(f) {
			t.Fatalf("the acked message was pushed again: %v", f)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		st := request(ac, map[string]any{"type": "message_status", "messageId": id})
		if st["delivered"] == true {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("delivered mark never committed after the lock: %v", st)
		}
		time.Sleep(20 * time.Millisecond) // polling interval, bounded by the deadline
	}
}

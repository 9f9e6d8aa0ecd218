package audit_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/claudemesh/claudemesh/internal/audit"
	"github.com/claudemesh/claudemesh/internal/broker"
	"github.com/claudemesh/claudemesh/internal/store"
	"github.com/claudemesh/claudemesh/internal/store/storetest"
)

// TestMessageCommitsExtendTheChain: message batches write their
// message_sent rows in their own transaction. Two nodes committing batches
// while recorders append other events on the same mesh still leave one
// unbroken chain with exactly one row per stored message (none for a
// duplicate), whose details are the canonical JSON of the metadata.
func TestMessageCommitsExtendTheChain(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b storetest.Backend) {
		ctx := context.Background()
		st1, st2, _ := twoNodes(t, b)
		mesh := store.Mesh{ID: "mesh_msgs", Name: "a", Slug: "a", OwnerPubkey: strings.Repeat("ab", 32), CreatedAt: time.Now()}
		if err := st1.CreateMesh(ctx, mesh); err != nil {
			t.Fatal(err)
		}
		bob := store.Member{ID: "mem_bob", MeshID: mesh.ID, Pubkey: strings.Repeat("0b", 32), DisplayName: "bob",
			Role: store.RoleMember, JoinedAt: time.Now()}
		if err := st1.AddMember(ctx, bob); err != nil {
			t.Fatal(err)
		}
		msg := func(id, cmid string) store.NewMessage {
			now := time.Now()
			return store.NewMessage{ID: id, MeshID: mesh.ID, SenderMemberID: "mem_alice", SenderPubkey: "alice",
				SenderMemberPubkey: "alicekey", ClientMessageID: cmid, TargetSpec: `"bob"`, Priority: "now",
				Kind: "direct", Enc: "box", Nonce: "nnnn", Ciphertext: "cccccc", CreatedAt: now,
				ExpiresAt: now.Add(time.Hour), Recipients: []store.Recipient{{MemberID: bob.ID, Pubkey: bob.Pubkey}}}
		}
		rec := audit.NewRecorder(st1, slog.New(slog.NewTextHandler(io.Discard, nil)))
		const batches, perBatch, events = 20, 8, 100
		var wg sync.WaitGroup
		for n, st := range []store.Store{st1, st2} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range batches {
					var batch []store.NewMessage
					for j := range perBatch {
						batch = append(batch, msg(fmt.Sprintf("msg_%d_%d_%d", n, i, j), ""))
					}
					if _, err := st.CommitMessages(ctx, batch, time.Hour); err != nil {
						t.Error(err)
					}
				}
			}()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range events {
				rec.Record(broker.AuditEvent{MeshID: mesh.ID, Event: "session_connected", Actor: "k",
					Details: map[string]any{"n": i}})
			}
		}()
		wg.Wait()
		if err := rec.Close(ctx); err != nil || rec.Dropped() != 0 {
			t.Fatalf("recorder: %v, dropped %d", err, rec.Dropped())
		}

		// A repeated clientMessageId is answered from the store: no new row.
		first, err := st1.CommitMessages(ctx, []store.NewMessage{msg("msg_key_1", "key")}, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		dup, err := st1.CommitMessages(ctx, []store.NewMessage{msg("msg_key_2", "key")}, time.Hour)
		if err != nil || !dup[0].Duplicate || dup[0].MessageID != first[0].MessageID {
			t.Fatalf("duplicate: %+v, %v", dup, err)
		}

		want := int64(2*batches*perBatch + events + 1)
		res, err := audit.Verify(ctx, st2, mesh.ID)
		if err != nil || res.Broken != nil || res.Rows != want {
			t.Fatalf("verify: rows %d (want %d), broken %+v, err %v", res.Rows, want, res.Broken, err)
		}
		last, err := st1.ListAudit(ctx, mesh.ID, 0, 1)
		if err != nil || len(last) != 1 {
			t.Fatalf("last row: %+v, %v", last, err)
		}
		r := last[0]
		wantDetails := `{"message_id":"msg_key_1","priority":"now","recipients":1,"size_bytes":10}`
		if r.Event != store.EventMessageSent || r.Actor != "alicekey" || r.Details != wantDetails {
			t.Fatalf("message_sent row = %+v, want details %s", r, wantDetails)
		}
	})
}

package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/claudemesh/claudemesh/internal/store"
	"github.com/claudemesh/claudemesh/internal/store/storetest"
)

func TestCommitMessagesOrder(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, s store.Store) {
		f := newFixture(t, s)
		var batch []store.NewMessage
		for _, id := range []string{"m1", "m2", "m3", "m4", "m5"} {
			batch = append(batch, f.msg(id, to(f.bob, "s1"), to(f.carol, "")))
		}
		res := f.commit(t, time.Hour, batch...)
		for i, r := range res {
			if r.MessageID != batch[i].ID || r.Duplicate || r.Recipients != 2 {
				t.Fatalf("result %d = %+v", i, r)
			}
			if i > 0 && r.Seq <= res[i-1].Seq {
				t.Fatalf("seq %d after %d: not in batch order", r.Seq, res[i-1].Seq)
			}
		}
		later := f.commit(t, time.Hour, f.msg("m6", to(f.bob, "s1")))
		if later[0].Seq <= res[4].Seq {
			t.Fatalf("later batch seq %d <= %d", later[0].Seq, res[4].Seq)
		}
		equal(t, "pending for bob/s1", f.pendingIDs(t, f.bob, "s1"), []string{"m1", "m2", "m3", "m4", "m5", "m6"})
		equal(t, "pending for carol", f.pendingIDs(t, f.carol, ""), []string{"m1", "m2", "m3", "m4", "m5"})

		// Every field survives the round trip, times truncated to ms.
		ds, err := s.PendingForSession(context.Background(), f.mesh.ID, f.bob.ID, "s1", t0, 0, 1)
		must(t, err)
		m := batch[0]
		equal(t, "delivery", ds, []store.Delivery{{Seq: res[0].Seq, MessageID: m.ID, MeshID: m.MeshID,
			MemberID: f.bob.ID, SessionID: "s1", SenderPubkey: m.SenderPubkey,
			SenderMemberPubkey: m.SenderMemberPubkey, SenderName: m.SenderName, Priority: m.Priority,
			Kind: m.Kind, Group: m.Group, Enc: m.Enc, Nonce: m.Nonce, Ciphertext: m.Ciphertext,
			CreatedAt: ms(m.CreatedAt), ExpiresAt: ms(m.ExpiresAt)}})

		// Repeated recipients make one row; the ack counts rows.
		r := f.commit(t, time.Hour, f.msg("m7", to(f.bob, "s1"), to(f.bob, "s1"), to(f.bob, "")))
		if r[0].Recipients != 2 {
			t.Fatalf("recipients = %d, want 2", r[0].Recipients)
		}
		if res, err := s.CommitMessages(context.Background(), nil, time.Hour); err != nil || len(res) != 0 {
			t.Fatalf("empty batch: %v %v", res, err)
		}
	})
}

func TestCommitMessagesIdempotency(t *testing.T) {
	const window = 24 * time.Hour
	type step struct {
		id, sender, key string
		at              time.Duration // CreatedAt - t0
		window          time.Duration
		wantDupOf       string // "" when the message must be new
	}
	cases := []struct {
		name  string
		steps [][]step // batches
	}{
		{"repeat within window", [][]step{
			{{id: "a", key: "k", window: window}},
			{{id: "b", key: "k", at: window - time.Hour, window: window, wantDupOf: "a"}},
		}},
		{"window edge is inclusive", [][]step{
			{{id: "a", key: "k", window: window}},
			{{id: "b", key: "k", at: window, window: window, wantDupOf: "a"}},
			{{id: "c", key: "k", at: window + time.Millisecond, window: window}},
		}},
		{"expired key is reused", [][]step{
			{{id: "a", key: "k", window: window}},
			{{id: "b", key: "k", at: 2 * window, window: window}},
			{{id: "c", key: "k", at: 2*window + time.Hour, window: window, wantDupOf: "b"}},
		}},
		{"keys are per sender", [][]step{
			{{id: "a", key: "k", window: window}},
			{{id: "b", key: "k", sender: "bob", window: window}},
			{{id: "c", key: "k", sender: "bob", window: window, wantDupOf: "b"}},
		}},
		{"no key, no dedup", [][]step{
			{{id: "a", window: window}, {id: "b", window: window}},
		}},
		{"zero window disables", [][]step{
			{{id: "a", key: "k"}},
			{{id: "b", key: "k"}},
			{{id: "c", key: "k", window: window, wantDupOf: "b"}},
		}},
		{"duplicate inside one batch", [][]step{
			{{id: "a", key: "k", window: window}, {id: "x", key: "other", window: window},
				{id: "b", key: "k", window: window, wantDupOf: "a"}},
			{{id: "c", key: "k", window: window, wantDupOf: "a"}},
		}},
		{"older use inside one batch is released", [][]step{
			{{id: "a", key: "k", window: window}, {id: "b", key: "k", at: 2 * window, window: window}},
			{{id: "c", key: "k", at: 2 * window, window: window, wantDupOf: "b"}},
		}},
	}
	storetest.ForEachBackend(t, func(t *testing.T, s store.Store) {
		f := newFixture(t, s)
		for ci, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				prefix := string(rune('A'+ci)) + "-"
				first := map[string]store.CommitResult{} // by message id, new messages only
				for _, batch := range c.steps {
					var msgs []store.NewMessage
					for _, st := range batch {
						m := f.msg(prefix+st.id, to(f.bob, ""), to(f.carol, "c1"))
						if st.sender == "bob" {
							m.SenderMemberID = f.bob.ID
						}
						if st.key != "" {
							m.ClientMessageID = prefix + st.key
						}
						m.CreatedAt = t0.Add(st.at)
						msgs = append(msgs, m)
					}
					// One window per batch: all steps of a batch share it.
					res := f.commit(t, batch[0].window, msgs...)
					for i, st := range batch {
						r := res[i]
						if st.wantDupOf == "" {
							if r.Duplicate || r.MessageID != prefix+st.id || r.Recipients != 2 {
								t.Fatalf("%s: %+v, want a new message", st.id, r)
							}
							first[prefix+st.id] = r
							continue
						}
						orig := first[prefix+st.wantDupOf]
						if !r.Duplicate || r.MessageID != orig.MessageID || r.Seq != orig.Seq || r.Recipients != 2 {
							t.Fatalf("%s: %+v, want duplicate of %+v", st.id, r, orig)
						}
						// Nothing was written for the duplicate.
						_, err := s.MessageStatus(context.Background(), f.mesh.ID, prefix+st.id)
						wantErr(t, err, store.ErrNotFound)
					}
				}
			})
		}
	})
}

func TestCommitMessagesAtomic(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, s store.Store) {
		ctx := context.Background()
		f := newFixture(t, s)
		keyed := f.msg("orig", to(f.bob, ""))
		keyed.ClientMessageID = "k"
		f.commit(t, time.Hour, keyed)

		// This batch would release "k" (orig is older than the window), then
		// fails: the release must be rolled back with everything else.
		reuse := f.msg("reuse", to(f.bob, ""))
		reuse.ClientMessageID, reuse.CreatedAt = "k", t0.Add(2*time.Hour)
		unknownMesh := f.msg("bad-mesh", to(f.bob, ""))
		unknownMesh.MeshID = "nope"
		unknownMember := f.msg("bad-member", store.Recipient{MemberID: "ghost", Pubkey: pubkey(77)})
		cases := []struct {
			name string
			bad  store.NewMessage
			want error
		}{
			{"message id taken", f.msg("orig", to(f.bob, "")), store.ErrConflict},
			{"unknown mesh", unknownMesh, nil},
			{"unknown recipient", unknownMember, nil},
		}
		for _, c := range cases {
			_, err := s.CommitMessages(ctx, []store.NewMessage{f.msg("ok-"+c.name, to(f.bob, "")), reuse, c.bad}, time.Hour)
			if err == nil {
				t.Fatalf("%s: batch committed", c.name)
			}
			if c.want != nil && !errors.Is(err, c.want) {
				t.Fatalf("%s: error %v, want %v", c.name, err, c.want)
			}
			for _, id := range []string{"ok-" + c.name, "reuse"} {
				_, err := s.MessageStatus(ctx, f.mesh.ID, id)
				wantErr(t, err, store.ErrNotFound)
			}
		}
		equal(t, "pending", f.pendingIDs(t, f.bob, ""), []string{"orig"})
		again := f.msg("again", to(f.bob, ""))
		again.ClientMessageID, again.CreatedAt = "k", t0.Add(30*time.Minute)
		if r := f.commit(t, time.Hour, again); !r[0].Duplicate || r[0].MessageID != "orig" {
			t.Fatalf("key released by a failed batch: %+v", r[0])
		}
	})
}

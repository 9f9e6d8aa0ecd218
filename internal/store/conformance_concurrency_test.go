package store_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/claudemesh/claudemesh/internal/store"
	"github.com/claudemesh/claudemesh/internal/store/storetest"
)

func TestCommitMessagesConcurrent(t *testing.T) {
	const workers, batches, size = 8, 10, 5
	storetest.ForEachBackend(t, func(t *testing.T, s store.Store) {
		f := newFixture(t, s)
		results := make([][]store.CommitResult, workers)
		var wg sync.WaitGroup
		errs := make(chan error, workers)
		for w := range workers {
			wg.Go(func() {
				for b := range batches {
					var msgs []store.NewMessage
					for i := range size {
						m := f.msg(fmt.Sprintf("w%d-b%d-%d", w, b, i), to(f.bob, "s1"), to(f.carol, ""))
						m.ClientMessageID = m.ID
						msgs = append(msgs, m)
					}
					res, err := s.CommitMessages(context.Background(), msgs, time.Hour)
					if err != nil {
						errs <- err
						return
					}
					results[w] = append(results[w], res...)
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}

		want := map[string]int64{}
		for w, rs := range results {
			for i, r := range rs {
				if r.Duplicate || r.Recipients != 2 {
					t.Fatalf("worker %d: %+v", w, r)
				}
				if i > 0 && r.Seq <= rs[i-1].Seq {
					t.Fatalf("worker %d: seq %d after %d", w, r.Seq, rs[i-1].Seq)
				}
				want[r.MessageID] = r.Seq
			}
		}
		if len(want) != workers*batches*size {
			t.Fatalf("%d distinct messages, want %d", len(want), workers*batches*size)
		}
		for _, q := range []struct {
			m       store.Member
			session string
		}{{f.bob, "s1"}, {f.carol, ""}} {
			ds, err := s.PendingForSession(context.Background(), f.mesh.ID, q.m.ID, q.session, t0, 0, 0)
			must(t, err)
			got := map[string]int64{}
			for i, d := range ds {
				if i > 0 && d.Seq <= ds[i-1].Seq {
					t.Fatalf("%s: pending rows out of seq order", q.m.ID)
				}
				got[d.MessageID] = d.Seq
			}
			if len(ds) != len(want) {
				t.Fatalf("%s: %d rows, want %d", q.m.ID, len(ds), len(want))
			}
			equal(t, q.m.ID+" rows", got, want)
		}
	})
}

// Concurrent sends of one idempotency key create exactly one message.
func TestCommitMessagesConcurrentSameKey(t *testing.T) {
	const workers = 8
	storetest.ForEachBackend(t, func(t *testing.T, s store.Store) {
		f := newFixture(t, s)
		res := make([]store.CommitResult, workers)
		errs := make([]error, workers)
		var wg sync.WaitGroup
		for w := range workers {
			wg.Go(func() {
				m := f.msg(fmt.Sprintf("try-%d", w), to(f.bob, ""))
				m.ClientMessageID = "same"
				other := f.msg(fmt.Sprintf("other-%d", w), to(f.bob, ""))
				var r []store.CommitResult
				r, errs[w] = s.CommitMessages(context.Background(), []store.NewMessage{other, m}, time.Hour)
				if errs[w] == nil {
					res[w] = r[1]
				}
			})
		}
		wg.Wait()
		created := map[string]bool{}
		for w := range workers {
			must(t, errs[w])
			created[res[w].MessageID] = true
			if !res[w].Duplicate {
				created["new:"+res[w].MessageID] = true
			}
		}
		if len(created) != 2 {
			t.Fatalf("results %+v: want one new message that every other send repeats", res)
		}
		if got := len(f.pendingIDs(t, f.bob, "")); got != workers+1 {
			t.Fatalf("%d pending rows, want %d", got, workers+1)
		}
	})
}

// Sessions of one member that end together and release the same messages
// leave exactly one member-bound row per message, and no error. Enough
// rows that the statements overlap (an UPDATE of the key would conflict).
func TestReleaseSessionRowsConcurrent(t *testing.T) {
	const workers, msgs = 8, 400
	storetest.ForEachBackend(t, func(t *testing.T, s store.Store) {
		f := newFixture(t, s)
		var batch []store.NewMessage
		for i := range msgs {
			var rs []store.Recipient
			for w := range workers {
				rs = append(rs, to(f.bob, fmt.Sprintf("s%d", w)))
			}
			batch = append(batch, f.msg(fmt.Sprintf("m%02d", i), rs...))
		}
		f.commit(t, 0, batch...)
		released := make([]int, workers)
		errs := make([]error, workers)
		var wg sync.WaitGroup
		for w := range workers {
			wg.Go(func() {
				released[w], errs[w] = s.ReleaseSessionRows(context.Background(), f.mesh.ID, f.bob.ID, fmt.Sprintf("s%d", w))
			})
		}
		wg.Wait()
		total := 0
		for w := range workers {
			must(t, errs[w])
			total += released[w]
		}
		if total != msgs {
			t.Fatalf("released %d rows in all, want %d", total, msgs)
		}
		if got := len(f.pendingIDs(t, f.bob, "")); got != msgs {
			t.Fatalf("%d member-bound rows, want %d", got, msgs)
		}
		_, pending, err := s.CountMessages(context.Background(), f.mesh.ID)
		must(t, err)
		if pending != msgs {
			t.Fatalf("%d pending rows left, want %d (one per message)", pending, msgs)
		}
	})
}

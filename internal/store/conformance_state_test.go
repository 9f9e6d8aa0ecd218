package store_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/claudemesh/claudemesh/internal/store"
	"github.com/claudemesh/claudemesh/internal/store/storetest"
)

func TestStateVersionsAndCompareAndSet(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, s store.Store) {
		f := newFixture(t, s)
		ctx := context.Background()
		v := func(n int64) *int64 { return &n }
		set := func(key, value string, ifVersion *int64) (store.StateEntry, error) {
			return s.SetState(ctx, store.StateEntry{MeshID: f.mesh.ID, Key: key, Value: value, UpdatedBy: "Alice", UpdatedAt: t0}, ifVersion)
		}
		e, err := set("b", `{"z":1,"a":2}`, nil)
		must(t, err)
		equal(t, "first version", e.Version, int64(1))
		_, err = set("b", `2`, v(0))
		wantErr(t, err, store.ErrConflict) // ifVersion 0: only when absent
		e, err = set("b", `3`, v(1))
		must(t, err)
		equal(t, "cas version", e.Version, int64(2))
		_, err = set("b", `4`, v(1))
		wantErr(t, err, store.ErrConflict)
		_, err = set("a", `"x"`, v(0))
		must(t, err)

		got, err := s.GetState(ctx, f.mesh.ID, "b")
		must(t, err)
		equal(t, "get", got, store.StateEntry{MeshID: f.mesh.ID, Key: "b", Value: `3`, UpdatedBy: "Alice", Version: 2, UpdatedAt: ms(t0)})
		list, err := s.ListState(ctx, f.mesh.ID)
		must(t, err)
		if len(list) != 2 || list[0].Key != "a" || list[1].Key != "b" {
			t.Fatalf("list = %+v", list)
		}
		_, err = s.GetState(ctx, "other-mesh", "b")
		wantErr(t, err, store.ErrNotFound)

		del, err := s.DeleteState(ctx, f.mesh.ID, "b")
		must(t, err)
		equal(t, "deleted version", del.Version, int64(2))
		_, err = s.DeleteState(ctx, f.mesh.ID, "b")
		wantErr(t, err, store.ErrNotFound)
		_, err = s.GetState(ctx, f.mesh.ID, "b")
		wantErr(t, err, store.ErrNotFound)
	})
}

func TestConcurrentCompareAndSetHasOneWinner(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, s store.Store) {
		f := newFixture(t, s)
		ctx := context.Background()
		_, err := s.SetState(ctx, store.StateEntry{MeshID: f.mesh.ID, Key: "k", Value: `0`, UpdatedAt: t0}, nil)
		must(t, err)
		for round := int64(1); round <= 10; round++ {
			var wg sync.WaitGroup
			errs := make([]error, 8)
			for i := range errs {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, errs[i] = s.SetState(ctx, store.StateEntry{MeshID: f.mesh.ID, Key: "k", Value: `1`, UpdatedAt: t0}, &round)
				}()
			}
			wg.Wait()
			wins := 0
			for _, err := range errs {
				switch {
				case err == nil:
					wins++
				case !errors.Is(err, store.ErrConflict):
					t.Fatalf("round %d: %v", round, err)
				}
			}
			if wins != 1 {
				t.Fatalf("round %d: %d writers won", round, wins)
			}
		}
	})
}

func TestMemoryRememberRecallForget(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, s store.Store) {
		f := newFixture(t, s)
		ctx := context.Background()
		must(t, s.Remember(ctx, store.Memory{ID: "m1", MeshID: f.mesh.ID, Content: "The staging database runs PostgreSQL 16",
			Tags: []string{"infra"}, RememberedBy: "Alice", RememberedAt: t0}))
		must(t, s.Remember(ctx, store.Memory{ID: "m2", MeshID: f.mesh.ID, Content: "Lunch is at noon", RememberedAt: t0}))
		got, err := s.Recall(ctx, f.mesh.ID, "postgresql", 10)
		must(t, err)
		if len(got) != 1 || got[0].ID != "m1" || got[0].Rank <= 0 || got[0].RememberedBy != "Alice" ||
			len(got[0].Tags) != 1 || got[0].Tags[0] != "infra" || !got[0].RememberedAt.Equal(ms(t0)) {
			t.Fatalf("recall = %+v", got)
		}
		// Operators in the query are plain words, never FTS syntax.
		for _, q := range []string{`"unbalanced`, `infra AND NOT (`, `*:`, ``, `   `} {
			if _, err := s.Recall(ctx, f.mesh.ID, q, 10); err != nil {
				t.Fatalf("recall %q: %v", q, err)
			}
		}
		if got, _ := s.Recall(ctx, "other-mesh", "postgresql", 10); len(got) != 0 {
			t.Fatalf("another mesh sees memories: %+v", got)
		}
		must(t, s.Forget(ctx, f.mesh.ID, "m1"))
		wantErr(t, s.Forget(ctx, f.mesh.ID, "m1"), store.ErrNotFound)
		if got, _ := s.Recall(ctx, f.mesh.ID, "postgresql", 10); len(got) != 0 {
			t.Fatalf("forgotten memory recalled: %+v", got)
		}
	})
}

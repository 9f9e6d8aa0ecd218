package meshadmin_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/claudemesh/claudemesh/internal/datakey"
	"github.com/claudemesh/claudemesh/internal/meshadmin"
	"github.com/claudemesh/claudemesh/internal/store"
	"github.com/claudemesh/claudemesh/internal/store/storetest"
)

func TestCreateSealedEncryptsTheRootKey(t *testing.T) {
	storetest.ForEachBackend(t, func(t *testing.T, st store.Store) {
		ctx := context.Background()
		key, err := datakey.Load(strings.Repeat("5a", 32), "")
		if err != nil {
			t.Fatal(err)
		}
		root := bytes.Repeat([]byte{0x42}, 32)
		owner := strings.Repeat("ab", 32)
		m, err := meshadmin.CreateSealed(ctx, st, key, "ops", owner, root, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		stored, err := st.GetMesh(ctx, m.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(stored.RootKey) == 32 || bytes.Contains(stored.RootKey, root) {
			t.Fatal("root key stored in the clear")
		}
		got, err := meshadmin.RootKey(key, stored)
		if err != nil || !bytes.Equal(got, root) {
			t.Fatalf("RootKey = %x, %v", got, err)
		}
		if _, err := meshadmin.CreateSealed(ctx, st, nil, "ops", owner, root, time.Now()); err == nil {
			t.Fatal("a root key was accepted without a data key")
		}
		noKey, err := meshadmin.CreateSealed(ctx, st, nil, "keyless", owner, nil, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := meshadmin.RootKey(key, noKey); err != meshadmin.ErrNoRootKey {
			t.Fatalf("keyless mesh: %v", err)
		}
	})
}

package main_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"os"
	"path/filepath"
	"testing"

	"github.com/claudemesh/claudemesh/internal/datakey"
	"github.com/claudemesh/claudemesh/internal/store"
	"github.com/claudemesh/claudemesh/internal/store/storetest"
	"github.com/claudemesh/claudemesh/internal/testkit"
)

// TestMeshCreateRootKeyIsEncrypted: the operator path seals the root key
// with the data key file it creates (0600) in the data directory.
func TestMeshCreateRootKeyIsEncrypted(t *testing.T) {
	e := newEnv(t, storetest.Backends(t)[0])
	root := bytes.Repeat([]byte{0x41}, 32)
	var mesh struct {
		ID string `json:"id"`
	}
	e.run(&mesh, "mesh", "create", "--name", "sealed", "--owner-pubkey", testkit.NewIdentity(t).Hex(),
		"--root-key", base64.RawURLEncoding.EncodeToString(root), "--json")
	info, err := os.Stat(filepath.Join(e.dataDir, datakey.FileName))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, %v", info, err)
	}
	st, err := store.Open(context.Background(), store.Config{DataDir: e.dataDir})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	m, err := st.GetMesh(context.Background(), mesh.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.RootKey) == 32 || bytes.Contains(m.RootKey, root) {
		t.Fatal("the operator stored the root key in the clear")
	}
}

package meshadmin

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/claudemesh/claudemesh/internal/datakey"
	"github.com/claudemesh/claudemesh/internal/protocol"
	"github.com/claudemesh/claudemesh/internal/store"
)

// ErrNoRootKey: the mesh was created without a root key, so there is
// nothing to hand to a joiner.
var ErrNoRootKey = errors.New("this mesh has no root key on the broker")

// NewSealedMesh validates and builds a mesh whose root key (nil or 32
// bytes) is sealed with the broker's data key, bound to the mesh id.
func NewSealedMesh(key *datakey.Key, name, ownerPubkey string, rootKey []byte, now time.Time) (store.Mesh, error) {
	m, err := newMesh(name, ownerPubkey, rootKey, now)
	if err != nil || rootKey == nil {
		return m, err
	}
	if key == nil {
		return store.Mesh{}, errors.New("no data key to encrypt the root key at rest: set BROKER_ENCRYPTION_KEY or BROKER_DATA_DIR")
	}
	if m.RootKey, err = key.Seal(rootKey, rootKeyContext(m.ID)); err != nil {
		return store.Mesh{}, fmt.Errorf("sealing the root key: %w", err)
	}
	return m, nil
}

// CreateSealed is NewSealedMesh followed by storing the mesh: the
// operator's `mesh create --root-key` path.
func CreateSealed(ctx context.Context, st store.Store, key *datakey.Key, name, ownerPubkey string, rootKey []byte, now time.Time) (store.Mesh, error) {
	m, err := NewSealedMesh(key, name, ownerPubkey, rootKey, now)
	if err != nil {
		return store.Mesh{}, err
	}
	if err := st.CreateMesh(ctx, m); err != nil {
		return store.Mesh{}, err
	}
	return m, nil
}

// RootKey opens a mesh's stored root key. A 32-byte value is a key stored
// before encryption at rest existed and is returned as is.
func RootKey(key *datakey.Key, m store.Mesh) ([]byte, error) {
	switch {
	case len(m.RootKey) == 0:
		return nil, ErrNoRootKey
	case len(m.RootKey) == protocol.RootKeySize:
		return m.RootKey, nil
	case key == nil:
		return nil, errors.New("no data key to decrypt the root key: set BROKER_ENCRYPTION_KEY or BROKER_DATA_DIR")
	}
	return key.Open(m.RootKey, rootKeyContext(m.ID))
}

func rootKeyContext(meshID string) string { return "claudemesh-root-key|" + meshID }

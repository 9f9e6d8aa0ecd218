// Package meshadmin holds the mesh and member operations shared by the
// operator subcommands and (later) the HTTP admin API, so both validate the
// same way.
package meshadmin

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"

	"github.com/claudemesh/claudemesh/internal/ids"
	"github.com/claudemesh/claudemesh/internal/protocol"
	"github.com/claudemesh/claudemesh/internal/store"
)

// Slugify derives a mesh slug from its name: lowercase, runs of
// non-alphanumerics become "-", trimmed, at most 48 chars, "mesh" if empty.
// Slugs are not unique.
func Slugify(name string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(name) {
		if r < unicode.MaxASCII && (unicode.IsLetter(r) || unicode.IsDigit(r)) {
			b.WriteRune(r)
			dash = false
		} else if !dash && b.Len() > 0 {
			b.WriteByte('-')
			dash = true
		}
	}
	slug := strings.Trim(b.String(), "-")
	if len(slug) > 48 {
		slug = strings.Trim(slug[:48], "-")
	}
	if slug == "" {
		return "mesh"
	}
	return slug
}

func newMesh(name, ownerPubkey string, rootKey []byte, now time.Time) (store.Mesh, error) {
	name = strings.TrimSpace(name)
	switch {
	case name == "" || len(name) > protocol.MaxNameLen:
		return store.Mesh{}, errors.New("mesh name must be 1 to 128 characters")
	case !protocol.IsHexKey(ownerPubkey):
		return store.Mesh{}, errors.New("owner pubkey must be 64 lowercase hex characters (an ed25519 public key)")
	case rootKey != nil && len(rootKey) != protocol.RootKeySize:
		return store.Mesh{}, fmt.Errorf("root key must be 32 bytes, got %d", len(rootKey))
	}
	return store.Mesh{ID: ids.New("mesh"), Name: name, Slug: Slugify(name), OwnerPubkey: ownerPubkey, RootKey: rootKey, CreatedAt: now}, nil
}

// AddMember validates and stores a new member of an existing mesh.
func AddMember(ctx context.Context, st store.Store, meshID, pubkey, displayName, role string, now time.Time) (store.Member, error) {
	m, err := NewMember(meshID, pubkey, displayName, role, now)
	if err != nil {
		return store.Member{}, err
	}
	if _, err := st.GetMesh(ctx, meshID); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return store.Member{}, fmt.Errorf("no mesh with id %q", meshID)
		}
		return store.Member{}, err
	}
	if err := st.AddMember(ctx, m); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return store.Member{}, errors.New("that pubkey is already a member of this mesh")
		}
		return store.Member{}, err
	}
	return m, nil
}

// NewMember validates and builds a member of meshID without storing it.
func NewMember(meshID, pubkey, displayName, role string, now time.Time) (store.Member, error) {
	displayName = strings.TrimSpace(displayName)
	switch {
	case !protocol.IsHexKey(pubkey):
		return store.Member{}, errors.New("member pubkey must be 64 lowercase hex characters (an ed25519 public key)")
	case displayName == "" || len(displayName) > protocol.MaxNameLen:
		return store.Member{}, errors.New("member name must be 1 to 128 characters")
	case role != store.RoleAdmin && role != store.RoleMember:
		return store.Member{}, fmt.Errorf("role must be %q or %q", store.RoleAdmin, store.RoleMember)
	}
	return store.Member{ID: ids.New("mem"), MeshID: meshID, Pubkey: pubkey, DisplayName: displayName,
		Role: role, Groups: []store.Group{}, JoinedAt: now, UpdatedAt: now}, nil
}

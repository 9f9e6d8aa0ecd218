package meshsetup

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/claudemesh/claudemesh/internal/invite"
	"github.com/claudemesh/claudemesh/internal/protocol"
)

// maxUsesPerInvite is the broker's upper bound on max_uses.
const maxUsesPerInvite = 10000

// Member is one identity that can say hello.
type Member struct {
	ID   string
	Name string
	Key  ed25519.PrivateKey
}

// Mesh is a created mesh with the keys its members hold.
type Mesh struct {
	ID      string
	Owner   ed25519.PrivateKey
	RootKey []byte
	// Members[0] is the creator (role admin); the rest joined by claims.
	Members []Member
}

// Create makes a mesh of n members (n >= 1): the creator plus n-1 claims
// of multi-use v2 invites, run claimConcurrency at a time.
func (c *Client) Create(ctx context.Context, name string, n, claimConcurrency int) (*Mesh, error) {
	if n < 1 {
		return nil, errors.New("a mesh needs at least one member")
	}
	_, owner, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	_, creator, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	root := make([]byte, protocol.RootKeySize)
	if _, err := rand.Read(root); err != nil {
		return nil, err
	}
	m := &Mesh{Owner: owner, RootKey: root}
	creatorID, err := c.createMesh(ctx, m, name, creator)
	if err != nil {
		return nil, err
	}
	m.Members = make([]Member, n)
	m.Members[0] = Member{ID: creatorID, Name: "load-0", Key: creator}
	for first := 1; first < n; first += maxUsesPerInvite {
		count := min(maxUsesPerInvite, n-first)
		code, err := c.mintInvite(ctx, m, count)
		if err != nil {
			return nil, err
		}
		if err := c.claimAll(ctx, m, code, first, count, claimConcurrency); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (c *Client) createMesh(ctx context.Context, m *Mesh, name string, creator ed25519.PrivateKey) (string, error) {
	ownerPub, peerPub := hexPub(m.Owner), hexPub(creator)
	ts := time.Now().UnixMilli()
	body, _ := json.Marshal(map[string]any{
		"name": name, "owner_pubkey": ownerPub, "root_key": protocol.EncodeB64URL(m.RootKey),
		"peer_pubkey": peerPub, "display_name": "load-0", "timestamp": ts,
		"signature": protocol.SignHex(m.Owner, protocol.CreateMeshCanonical(name, ownerPub, peerPub, ts)),
	})
	hdr := map[string][]string{}
	if c.AdminToken != "" {
		hdr["Authorization"] = []string{"Bearer " + c.AdminToken}
	}
	var out struct {
		MeshID   string `json:"mesh_id"`
		MemberID string `json:"member_id"`
	}
	if err := c.do(ctx, "POST /meshes", "POST", "/meshes", hdr, body, &out); err != nil {
		return "", err
	}
	m.ID = out.MeshID
	return out.MemberID, nil
}

// mintInvite mints a v2 member invite for uses claims; the owner signs the
// capability and the admin request.
func (c *Client) mintInvite(ctx context.Context, m *Mesh, uses int) (string, error) {
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	inviteID := "inv_load_" + hex.EncodeToString(rnd[:])
	expires := time.Now().Add(24 * time.Hour).Unix()
	ownerPub := hexPub(m.Owner)
	canonical := invite.V2Canonical(m.ID, inviteID, expires, "member", ownerPub)
	body, _ := json.Marshal(map[string]any{
		"invite_id": inviteID, "role": "member", "max_uses": uses, "expires_at": expires,
		"capability": map[string]string{"canonical": canonical, "signature": protocol.SignHex(m.Owner, canonical)},
	})
	path := "/meshes/" + m.ID + "/invites"
	var out struct {
		Code string `json:"code"`
	}
	if err := c.do(ctx, "POST "+path, "POST", path, adminHeader(m.Owner, "POST", path, body), body, &out); err != nil {
		return "", err
	}
	return out.Code, nil
}

// claimAll fills m.Members[first:first+count] by claiming code.
func (c *Client) claimAll(ctx context.Context, m *Mesh, code string, first, count, concurrency int) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	jobs := make(chan int)
	var (
		wg       sync.WaitGroup
		errOnce  sync.Once
		firstErr error
	)
	for range max(1, concurrency) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				mem, err := c.claim(ctx, m, code, fmt.Sprintf("load-%d", i))
				if err != nil {
					errOnce.Do(func() { firstErr = err; cancel() })
					continue
				}
				m.Members[i] = mem // distinct index per job: no lock needed
			}
		}()
	}
feed:
	for i := first; i < first+count; i++ {
		select {
		case jobs <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	if firstErr == nil && ctx.Err() != nil {
		firstErr = ctx.Err()
	}
	return firstErr
}

// claim joins as a fresh identity and checks what a joining CLI checks:
// the sealed root key opens to the mesh's key and the capability verifies.
func (c *Client) claim(ctx context.Context, m *Mesh, code, name string) (Member, error) {
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return Member{}, err
	}
	xpub, xpriv, err := protocol.GenerateX25519()
	if err != nil {
		return Member{}, err
	}
	recipient, peer := protocol.EncodeB64URL(xpub[:]), hexPub(key)
	ts := time.Now().UnixMilli()
	body, _ := json.Marshal(map[string]any{
		"recipient_x25519_pubkey": recipient, "peer_pubkey": peer, "display_name": name, "timestamp": ts,
		"signature": protocol.SignHex(key, protocol.ClaimCanonical(code, recipient, peer, ts)),
	})
	var out struct {
		Sealed     string `json:"sealed_root_key"`
		MeshID     string `json:"mesh_id"`
		MemberID   string `json:"member_id"`
		Owner      string `json:"owner_pubkey"`
		Canonical  string `json:"canonical_v2"`
		Capability string `json:"capability_signature"`
	}
	path := "/invites/" + code + "/claim"
	if err := c.do(ctx, "POST "+path, "POST", path, nil, body, &out); err != nil {
		return Member{}, err
	}
	root, err := protocol.OpenRootKey(out.Sealed, xpub, xpriv)
	if err != nil {
		return Member{}, fmt.Errorf("claim %s: %w", name, err)
	}
	switch {
	case out.MeshID != m.ID || out.Owner != hexPub(m.Owner):
		return Member{}, fmt.Errorf("claim %s: the broker answered for mesh %s owned by %s", name, out.MeshID, out.Owner)
	case !bytes.Equal(root, m.RootKey):
		return Member{}, fmt.Errorf("claim %s: the sealed root key is not the mesh's root key", name)
	case !protocol.VerifyHex(out.Owner, out.Canonical, out.Capability):
		return Member{}, fmt.Errorf("claim %s: the invite capability does not verify against the owner key", name)
	}
	return Member{ID: out.MemberID, Name: name, Key: key}, nil
}

func hexPub(k ed25519.PrivateKey) string { return hex.EncodeToString(k.Public().(ed25519.PublicKey)) }

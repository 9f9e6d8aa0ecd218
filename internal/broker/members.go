package broker

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/claudemesh/claudemesh/internal/store"
)

// meshMembers is the cached, non-revoked membership of one mesh.
type meshMembers struct {
	mesh     store.Mesh
	byID     map[string]store.Member
	byPubkey map[string]string // pubkey -> member id
	// snap is the read-only view routing uses, built on first use after a
	// change and dropped by every change (apply, setGroups), so a send
	// neither copies the member list nor holds c.mu while it routes.
	snap *memberSnapshot
}

// memberSnapshot is an immutable view of one mesh's members: never modify
// it or its slice; a change builds a new one.
type memberSnapshot struct {
	list     []store.Member
	byPubkey map[string]int // pubkey -> index in list
}

func (m *meshMembers) snapshotLocked() *memberSnapshot {
	if m.snap != nil {
		return m.snap
	}
	sn := &memberSnapshot{list: make([]store.Member, 0, len(m.byID)), byPubkey: make(map[string]int, len(m.byID))}
	for _, mem := range m.byID {
		sn.byPubkey[mem.Pubkey] = len(sn.list)
		sn.list = append(sn.list, mem)
	}
	m.snap = sn
	return sn
}

// memberCache keeps mesh memberships in memory so hellos and routing do not
// read the store per frame. The store stays the source of truth: a miss
// reloads the mesh, and the member poller applies every change (including
// ones made by other processes) within MemberPollInterval.
// mu is a leaf lock: never call the hub or a session while holding it.
type memberCache struct {
	st     store.Store
	mu     sync.RWMutex
	meshes map[string]*meshMembers
	// gen counts applied changes. A reload installs what it read only if no
	// change was applied while it read, so a slow reload can never bring
	// back a member the poller has just revoked.
	gen uint64
}

func newMemberCache(st store.Store) *memberCache {
	return &memberCache{st: st, meshes: map[string]*meshMembers{}}
}

// mesh returns the cached membership, loading it on first use.
func (c *memberCache) mesh(ctx context.Context, meshID string) (*meshMembers, error) {
	c.mu.RLock()
	m := c.meshes[meshID]
	c.mu.RUnlock()
	if m != nil {
		return m, nil
	}
	return c.reload(ctx, meshID)
}

// reload reads a mesh and its members from the store and installs them,
// retrying while the poller applies changes concurrently.
func (c *memberCache) reload(ctx context.Context, meshID string) (*meshMembers, error) {
	for attempt := 0; ; attempt++ {
		c.mu.RLock()
		gen := c.gen
		c.mu.RUnlock()
		m, err := c.read(ctx, meshID)
		if err != nil {
			return nil, err
		}
		c.mu.Lock()
		if c.gen == gen || attempt == 4 {
			// After a few lost races the read is still returned, uninstalled:
			// the caller gets a snapshot no older than its own request.
			if c.gen == gen {
				c.meshes[meshID] = m
			}
			c.mu.Unlock()
			return m, nil
		}
		c.mu.Unlock()
	}
}

// read loads a mesh's live membership from the store.
func (c *memberCache) read(ctx context.Context, meshID string) (*meshMembers, error) {
	mesh, err := c.st.GetMesh(ctx, meshID)
	if err != nil {
		return nil, err
	}
	list, err := c.st.ListMembers(ctx, meshID)
	if err != nil {
		return nil, err
	}
	m := &meshMembers{mesh: mesh, byID: map[string]store.Member{}, byPubkey: map[string]string{}}
	for _, mem := range list {
		if mem.RevokedAt == nil {
			m.byID[mem.ID] = mem
			m.byPubkey[mem.Pubkey] = mem.ID
		}
	}
	return m, nil
}

// member finds a live member by id, reloading once on a miss so a member
// added a moment ago by another process can connect at once.
func (c *memberCache) member(ctx context.Context, meshID, memberID string) (store.Mesh, store.Member, error) {
	m, err := c.mesh(ctx, meshID)
	if err != nil {
		return store.Mesh{}, store.Member{}, err
	}
	c.mu.RLock()
	mem, ok := m.byID[memberID]
	c.mu.RUnlock()
	if !ok {
		if m, err = c.reload(ctx, meshID); err != nil {
			return store.Mesh{}, store.Member{}, err
		}
		c.mu.RLock() // the poller may already be applying changes to the new maps
		mem, ok = m.byID[memberID]
		c.mu.RUnlock()
		if !ok {
			return m.mesh, store.Member{}, store.ErrNotFound
		}
	}
	return m.mesh, mem, nil
}

// list returns the live members of a mesh. The slice is shared: read only.
func (c *memberCache) list(ctx context.Context, meshID string) ([]store.Member, error) {
	sn, err := c.snapshot(ctx, meshID)
	if err != nil {
		return nil, err
	}
	return sn.list, nil
}

// snapshot returns the mesh's current read-only member view.
func (c *memberCache) snapshot(ctx context.Context, meshID string) (*memberSnapshot, error) {
	m, err := c.mesh(ctx, meshID)
	if err != nil {
		return nil, err
	}
	c.mu.RLock()
	sn := m.snap
	c.mu.RUnlock()
	if sn != nil {
		return sn, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return m.snapshotLocked(), nil
}

// byPubkey finds a live member by its ed25519 key.
func (c *memberCache) byPubkey(ctx context.Context, meshID, pubkey string) (store.Member, bool) {
	m, err := c.mesh(ctx, meshID)
	if err != nil {
		return store.Member{}, false
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	mem, ok := m.byID[m.byPubkey[pubkey]]
	return mem, ok
}

// apply folds one changed member into a cached mesh (no-op if not cached).
// It reports whether the member is newly revoked in the cache.
func (c *memberCache) apply(mem store.Member) (revoked bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	m := c.meshes[mem.MeshID]
	if m == nil {
		return false
	}
	m.snap = nil
	old, had := m.byID[mem.ID]
	if had {
		delete(m.byPubkey, old.Pubkey)
	}
	if mem.RevokedAt != nil {
		delete(m.byID, mem.ID)
		return had
	}
	m.byID[mem.ID] = mem
	m.byPubkey[mem.Pubkey] = mem.ID
	return false
}

// setGroups updates the cached remembered groups after a store write.
func (c *memberCache) setGroups(meshID, memberID string, groups []store.Group) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	if m := c.meshes[meshID]; m != nil {
		m.snap = nil
		if mem, ok := m.byID[memberID]; ok {
			mem.Groups = groups
			m.byID[memberID] = mem
		}
	}
}

// pollMembers applies member changes from the store, closing the sessions of
// revoked members. Revocations made by any process are seen within one poll.
func (b *Broker) pollMembers() {
	since := b.now().Add(-time.Second)
	seen := map[string]time.Time{} // member id -> UpdatedAt already applied
	ticker := time.NewTicker(b.opts.MemberPollInterval)
	defer ticker.Stop()
	for {
		select {
		case <-b.ctx.Done():
			return
		case <-ticker.C:
		}
		ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
		// Overlap the window so a change committed late with an earlier
		// timestamp is still seen; seen[] makes reapplying harmless.
		changed, err := b.store.MembersChangedSince(ctx, since.Add(-2*time.Second))
		cancel()
		if err != nil {
			if !errors.Is(err, context.Canceled) {
				b.log.Warn("polling member changes failed", "err", err)
			}
			continue
		}
		for _, mem := range changed {
			if at, ok := seen[mem.ID]; ok && !mem.UpdatedAt.After(at) {
				continue
			}
			seen[mem.ID] = mem.UpdatedAt
			if mem.UpdatedAt.After(since) {
				since = mem.UpdatedAt
			}
			wasLive := b.members.apply(mem)
			if mem.RevokedAt != nil {
				b.revokeSessions(mem, wasLive)
			}
		}
		for id, at := range seen {
			if at.Before(since.Add(-time.Minute)) {
				delete(seen, id)
			}
		}
	}
}

// revokeSessions closes a revoked member's sessions with 4001 and tells the
// mesh once.
func (b *Broker) revokeSessions(mem store.Member, announce bool) {
	closed := 0
	for _, s := range b.hub.memberSessions(mem.MeshID, mem.ID) {
		s.close(statusRevoked, "revoked")
		closed++
	}
	if announce || closed > 0 {
		b.announce(mem.MeshID, "", eventMemberRevoked(mem))
	}
}

package store

// claimPrecheck is what both backends check once the invite and its mesh
// are loaded: an archived mesh is not found, then the caller's Check runs.
func claimPrecheck(c Claim, inv Invite, mesh Mesh) error {
	if mesh.ArchivedAt != nil {
		return ErrNotFound
	}
	if c.Check != nil {
		return c.Check(inv, mesh)
	}
	return nil
}

// lifecycleBeforeUse checks revoked and expired; exhaustion is left to the
// guarded update (or, for a member claiming again, not checked at all: that
// claim consumes nothing).
func lifecycleBeforeUse(inv Invite, c Claim) error {
	switch inv.Status(c.Now) {
	case "revoked":
		return ErrInviteRevoked
	case "expired":
		return ErrInviteExpired
	}
	return nil
}

// claimMember is the member a claim creates: its key is the ed25519 peer
// key, its role the invite row's.
func claimMember(c Claim, inv Invite) Member {
	return Member{ID: c.MemberID, MeshID: inv.MeshID, Pubkey: c.PeerPubkey, DisplayName: c.DisplayName,
		Role: inv.Role, Groups: []Group{}, JoinedAt: toMS(c.Now), UpdatedAt: toMS(c.Now)}
}

// claimAudit is what a claim adds to the audit log, in its transaction.
func claimAudit(c Claim, inv Invite, m Member) []AuditEntry {
	return []AuditEntry{
		{MeshID: inv.MeshID, At: c.Now, Event: "member_joined", Actor: c.PeerPubkey,
			Details: map[string]any{"member_id": m.ID, "role": m.Role, "via_invite": inv.ID}},
		{MeshID: inv.MeshID, At: c.Now, Event: "invite_claimed", Actor: c.PeerPubkey,
			Details: map[string]any{"invite_id": inv.ID, "version": inv.Version, "used_count": inv.UsedCount + 1, "max_uses": inv.MaxUses}},
	}
}

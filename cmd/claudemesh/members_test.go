package main_test

import (
	"strings"
	"testing"

	"github.com/claudemesh/claudemesh/internal/invite"
)

// revokedInStore reports whether the broker's store has memberID revoked.
func revokedInStore(t *testing.T, b *testBroker, meshID, memberID string) bool {
	t.Helper()
	members, err := b.srv.Store.ListMembers(t.Context(), meshID)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range members {
		if m.ID == memberID {
			return m.RevokedAt != nil
		}
	}
	t.Fatalf("member %s is not in the store", memberID)
	return false
}

func TestMembersKickAndLeave(t *testing.T) {
	b := startBroker(t)
	olivia, dana, erin, sam := newUser(t, "olivia"), newUser(t, "dana"), newUser(t, "erin"), newUser(t, "sam")
	meshID := olivia.createMesh(b, "Platform")
	dana.must("join", olivia.invite().URL, "-y")
	erin.must("join", olivia.invite("--role", "admin").URL, "-y")
	sam.must("join", olivia.invite().URL, "-y")

	type member struct {
		MemberID    string `json:"member_id"`
		DisplayName string `json:"display_name"`
		Role        string
		RevokedAt   string `json:"revoked_at"`
	}
	list := decodeJSON[[]member](t, olivia.must("members", "--json"))
	roles := map[string]string{}
	for _, m := range list {
		roles[m.DisplayName] = m.Role
	}
	if len(list) != 4 || roles["olivia"] != "admin" || roles["erin"] != "admin" || roles["dana"] != "member" {
		t.Fatalf("members = %+v", list)
	}
	if r := erin.must("members"); !strings.Contains(r.stdout, "erin (you)") || !strings.Contains(r.stdout, "never connected") {
		t.Fatalf("members table:\n%s", r)
	}
	if r := dana.run("members"); r.code != 3 || !strings.Contains(r.stderr, "listing the members of platform") || !strings.Contains(r.stderr, "forbidden") {
		t.Fatalf("members as a plain member:\n%s", r)
	}

	// Kick by display name, by an admin who is not the owner.
	danaID := dana.config().Meshes[0].MemberID
	if r := erin.must("kick", "DANA"); !strings.Contains(r.stdout, "Revoked dana") {
		t.Fatalf("kick:\n%s", r)
	}
	if !revokedInStore(t, b, meshID, danaID) {
		t.Fatal("kick did not revoke dana in the store")
	}
	if r := erin.run("kick", "dana"); r.code != 1 || !strings.Contains(r.stderr, "already revoked") {
		t.Fatalf("kicking a revoked member:\n%s", r)
	}
	if r := erin.run("kick", "erin"); r.code != 1 || !strings.Contains(r.stderr, "claudemesh leave") {
		t.Fatalf("kicking yourself:\n%s", r)
	}
	// Kick by public key prefix.
	samKey := sam.config().Meshes[0].Pubkey
	olivia.must("kick", samKey[:12])
	if !revokedInStore(t, b, meshID, sam.config().Meshes[0].MemberID) {
		t.Fatal("kick by key prefix did not revoke sam")
	}

	// whoami and list --json: identity without secrets.
	type ident struct {
		Slug, Pubkey, Fingerprint, Role string
		MemberID                        string `json:"member_id"`
		MeshIDJSON                      string `json:"mesh_id"`
		DisplayName                     string `json:"display_name"`
		Owner                           bool
	}
	who := decodeJSON[[]ident](t, olivia.must("whoami", "--json"))
	own := olivia.config().Meshes[0]
	fp, _ := invite.OwnerFingerprint(own.Pubkey)
	if len(who) != 1 || who[0].MeshIDJSON != meshID || who[0].MemberID != own.MemberID || who[0].Pubkey != own.Pubkey ||
		who[0].Fingerprint != fp || who[0].Role != "admin" || !who[0].Owner || who[0].DisplayName != "olivia" {
		t.Fatalf("whoami = %+v", who)
	}
	r := olivia.must("list", "--json")
	if strings.Contains(r.stdout, own.SecretKey) || strings.Contains(r.stdout, own.RootKey) || !strings.Contains(r.stdout, meshID) {
		t.Fatalf("list --json leaks a secret or lacks the mesh:\n%s", r)
	}
	if r := newUser(t, "nobody").must("list"); !strings.Contains(r.stdout, "No mesh joined yet") {
		t.Fatalf("list with nothing joined:\n%s", r)
	}

	// An admin leaving revokes its own membership.
	erinID := erin.config().Meshes[0].MemberID
	if r := erin.must("leave", "platform"); !strings.Contains(r.stdout, "is revoked on") {
		t.Fatalf("admin leave:\n%s", r)
	}
	if !revokedInStore(t, b, meshID, erinID) || len(erin.config().Meshes) != 0 {
		t.Fatal("an admin's leave did not revoke it on the broker and forget it locally")
	}
	// A plain member's leave forgets locally and says what stays behind.
	dana2 := newUser(t, "dana2")
	dana2.must("join", olivia.invite().URL, "-y")
	if r := dana2.must("leave", "platform"); !strings.Contains(r.stdout, "until an admin runs `claudemesh kick") {
		t.Fatalf("member leave:\n%s", r)
	}
	if len(dana2.config().Meshes) != 0 {
		t.Fatal("leave kept the mesh")
	}
	// The owner is asked first: the owner key goes with the mesh.
	if r := olivia.runIn("n\n", "leave", "platform"); r.code != 3 || !strings.Contains(r.stdout, "owner key") || len(olivia.config().Meshes) != 1 {
		t.Fatalf("owner leave declined:\n%s", r)
	}
	if r := olivia.run("leave", "nosuchmesh"); r.code != 1 || !strings.Contains(r.stderr, "no joined mesh") {
		t.Fatalf("leaving an unknown mesh:\n%s", r)
	}
	olivia.must("leave", "platform", "-y")
	if len(olivia.config().Meshes) != 0 {
		t.Fatal("owner leave -y kept the mesh")
	}
}

// TestLeaveWithTheBrokerGone still forgets the mesh and says the broker
// did not answer.
func TestLeaveWithTheBrokerGone(t *testing.T) {
	b := startBroker(t)
	olivia, erin := newUser(t, "olivia"), newUser(t, "erin")
	olivia.createMesh(b, "Platform")
	erin.must("join", olivia.invite("--role", "admin").URL, "-y")
	if err := b.srv.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	r := erin.must("leave", "platform")
	if !strings.Contains(r.stdout, "did not answer") || len(erin.config().Meshes) != 0 {
		t.Fatalf("leave with the broker down:\n%s", r)
	}
	if r := olivia.run("members"); r.code != 4 {
		t.Fatalf("members with the broker down: want exit 4\n%s", r)
	}
}

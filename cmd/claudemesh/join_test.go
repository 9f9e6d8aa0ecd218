package main_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/claudemesh/claudemesh/internal/cliconfig"
)

// decodeJSON parses a --json answer, failing the test with the run's output.
func decodeJSON[T any](t *testing.T, r result) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(r.stdout), &v); err != nil {
		t.Fatalf("--json output is not the expected JSON: %v\n%s", err, r)
	}
	return v
}

type minted struct {
	InviteID               string `json:"invite_id"`
	Code, URL, Role, Token string
	MaxUses                int `json:"max_uses"`
	Version                int
	EmailStatus            string `json:"email_status"`
}

type listedInvite struct {
	InviteID  string `json:"invite_id"`
	Code      string
	Status    string
	UsedCount int `json:"used_count"`
	MaxUses   int `json:"max_uses"`
	Version   int
}

// config reads the user's config.json as the CLI wrote it.
func (u *user) config() *cliconfig.File {
	u.t.Helper()
	f, err := cliconfig.Load(u.dir)
	if err != nil {
		u.t.Fatal(err)
	}
	return f
}

// createMesh makes a mesh owned by u and returns its id.
func (u *user) createMesh(b *testBroker, name string) string {
	u.t.Helper()
	out := decodeJSON[map[string]string](u.t, u.must("mesh", "create", name, "--broker", b.URL, "--json"))
	return out["mesh_id"]
}

// invite mints an invite with extra flags and returns the broker's answer.
func (u *user) invite(args ...string) minted {
	u.t.Helper()
	return decodeJSON[minted](u.t, u.must(append([]string{"invite", "create", "--json"}, args...)...))
}

// inviteByCode is the owner's view of one invite (uses, status).
func (u *user) inviteByCode(code string) listedInvite {
	u.t.Helper()
	for _, inv := range decodeJSON[[]listedInvite](u.t, u.must("invite", "list", "--json")) {
		if inv.Code == code {
			return inv
		}
	}
	u.t.Fatalf("invite %s is not in `invite list`", code)
	return listedInvite{}
}

func TestInviteCreateThenJoinGivesBothTheMesh(t *testing.T) {
	b := startBroker(t)
	olivia, dana := newUser(t, "olivia"), newUser(t, "dana")
	meshID := olivia.createMesh(b, "Platform")
	inv := olivia.invite("--role", "member")
	if inv.Version != 2 || inv.Role != "member" || inv.MaxUses != 1 || !strings.Contains(inv.URL, "/i/"+inv.Code+"#") {
		t.Fatalf("minted = %+v", inv)
	}
	r := dana.must("join", inv.URL, "-y", "--name", "Dana")
	if !strings.Contains(r.stdout, "Joined") || strings.Contains(r.stdout, "[y/N]") {
		t.Fatalf("join -y output:\n%s", r)
	}
	owner, joined := olivia.config().Meshes[0], dana.config().Meshes
	if len(joined) != 1 {
		t.Fatalf("dana's config holds %d meshes", len(joined))
	}
	d := joined[0]
	if d.MeshID != meshID || d.Role != "member" || d.RootKey != owner.RootKey || d.BrokerURL != b.URL ||
		d.Slug != "platform" || d.Name != "Platform" || d.OwnerSecretKey != "" || d.MemberID == "" {
		t.Fatalf("dana's mesh = %+v (owner's root key %s)", d, owner.RootKey)
	}
	members, err := b.srv.Store.ListMembers(t.Context(), meshID)
	if err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, m := range members {
		found = found || (m.ID == d.MemberID && m.Pubkey == d.Pubkey && m.DisplayName == "Dana" && m.Role == "member")
	}
	if !found {
		t.Fatalf("dana is not a member in the broker's store: %+v", members)
	}
	if got := olivia.inviteByCode(inv.Code); got.UsedCount != 1 || got.Status != "exhausted" {
		t.Fatalf("invite after the join: %+v", got)
	}

	// Joining the same mesh again claims nothing and keeps the identity.
	again := olivia.invite()
	r = dana.must("join", again.URL, "-y")
	if !strings.Contains(r.stdout, "Already joined") {
		t.Fatalf("second join:\n%s", r)
	}
	if got := olivia.inviteByCode(again.Code); got.UsedCount != 0 {
		t.Fatalf("a second join of a joined mesh used the invite: %+v", got)
	}
	if after := dana.config().Meshes; len(after) != 1 || after[0].MemberID != d.MemberID {
		t.Fatalf("dana's config after a second join: %+v", after)
	}

	// A bare code works with --broker.
	erin := newUser(t, "erin")
	third := olivia.invite()
	erin.must("join", third.Code, "--broker", b.URL, "-y")
	if m := erin.config().Meshes; len(m) != 1 || m[0].MeshID != meshID {
		t.Fatalf("erin's config: %+v", m)
	}
}

func TestJoinShowsTheConsentCardAndClaimsNothingWithoutYes(t *testing.T) {
	b := startBroker(t)
	olivia, dana := newUser(t, "olivia"), newUser(t, "dana")
	olivia.createMesh(b, "Platform")
	inv := olivia.invite("--role", "admin", "--max-uses", "2")
	for _, answer := range []string{"n\n", "\n", "", "nope\n", "yes please\n"} {
		r := dana.runIn(answer, "join", inv.URL)
		if r.code != 3 {
			t.Fatalf("answer %q: want exit 3\n%s", answer, r)
		}
		for _, want := range []string{"Platform", "invited by", "olivia", "Admin", "1 member, 0 online now", "expires",
			"cannot read messages", "Join Platform as Admin? [y/N]"} {
			if !strings.Contains(r.stdout, want) {
				t.Fatalf("answer %q: the consent card lacks %q:\n%s", answer, want, r)
			}
		}
		if !strings.Contains(r.stderr, "nothing was claimed") {
			t.Fatalf("answer %q: stderr does not say nothing was claimed:\n%s", answer, r)
		}
	}
	if got := olivia.inviteByCode(inv.Code); got.UsedCount != 0 {
		t.Fatalf("declined joins used the invite: %+v", got)
	}
	if m := dana.config().Meshes; len(m) != 0 {
		t.Fatalf("a declined join saved a mesh: %+v", m)
	}
	r := dana.runIn("Y\n", "join", inv.URL)
	if r.code != 0 || !strings.Contains(r.stdout, "Joined") {
		t.Fatalf("answer Y:\n%s", r)
	}
	if m := dana.config().Meshes; len(m) != 1 || m[0].Role != "admin" {
		t.Fatalf("dana's config: %+v", m)
	}
}

func TestTamperedFingerprintStopsTheJoinBeforeTheClaim(t *testing.T) {
	b := startBroker(t)
	olivia, dana := newUser(t, "olivia"), newUser(t, "dana")
	olivia.createMesh(b, "Platform")
	inv := olivia.invite()
	link, fp, _ := strings.Cut(inv.URL, "#")
	last := byte('0')
	if fp[len(fp)-1] == '0' {
		last = '1'
	}
	r := dana.run("join", link+"#"+fp[:len(fp)-1]+string(last), "-y")
	if r.code != 3 || !strings.Contains(r.stderr, "does not match the mesh owner key") || !strings.Contains(r.stderr, "nothing was claimed") {
		t.Fatalf("tampered #fp:\n%s", r)
	}
	if got := olivia.inviteByCode(inv.Code); got.UsedCount != 0 {
		t.Fatalf("a tampered link used the invite: %+v", got)
	}
	if m := dana.config().Meshes; len(m) != 0 {
		t.Fatalf("a tampered link saved a mesh: %+v", m)
	}
	// A malformed fragment is a usage error; the untouched link still works.
	if r := dana.run("join", link+"#zz", "-y"); r.code != 2 {
		t.Fatalf("malformed fragment:\n%s", r)
	}
	dana.must("join", inv.URL, "-y")
}

func TestV1InviteJoinsThroughEveryLinkShape(t *testing.T) {
	b := startBroker(t)
	olivia := newUser(t, "olivia")
	meshID := olivia.createMesh(b, "Legacy")
	r := olivia.must("invite", "create", "--v1", "--max-uses", "4", "--json")
	inv := decodeJSON[minted](t, r)
	if inv.Version != 1 || inv.Token == "" || !strings.Contains(r.stderr, "embeds the mesh root key") {
		t.Fatalf("v1 mint:\n%s", r)
	}
	links := map[string]string{
		"short": inv.URL,
		"long":  b.URL + "/join/" + inv.Token,
		"ic":    "ic://join/" + inv.Token,
		// The link's host is not signed; the token's broker_url is, and wins.
		"other host": strings.Replace(b.URL, "127.0.0.1", "localhost", 1) + "/join/" + inv.Token,
	}
	for name, link := range links {
		t.Run(name, func(t *testing.T) {
			u := newUser(t, "joiner-"+name)
			r := u.runIn("y\n", "join", link)
			if r.code != 0 || !strings.Contains(r.stdout, "deprecated v1 link") || !strings.Contains(r.stdout, "Join ") {
				t.Fatalf("v1 join via %s:\n%s", link, r)
			}
			m := u.config().Meshes
			if len(m) != 1 || m[0].MeshID != meshID || m[0].RootKey != olivia.config().Meshes[0].RootKey ||
				m[0].BrokerURL != b.URL || m[0].Role != "member" {
				t.Fatalf("config after a v1 join: %+v", m)
			}
		})
	}
	if got := olivia.inviteByCode(inv.Code); got.UsedCount != 4 || got.Status != "exhausted" {
		t.Fatalf("v1 invite after four joins: %+v", got)
	}
	// Exhausted now: the broker's own refusal reaches the user verbatim.
	r = newUser(t, "late").run("join", b.URL+"/join/"+inv.Token, "-y")
	if r.code != 3 || !strings.Contains(r.stderr, "invite_exhausted") || !strings.Contains(r.stderr, "joining legacy through") {
		t.Fatalf("exhausted v1 join:\n%s", r)
	}
	// A revoked v1 invite is refused from its short link before anything else.
	// (Another lifetime than the first: v1 tokens have no nonce, so the same
	// lifetime minted within one second would be the very same token.)
	revoked := decodeJSON[minted](t, olivia.must("invite", "create", "--v1", "--expires", "6d", "--json"))
	olivia.must("invite", "revoke", revoked.InviteID)
	if r := newUser(t, "refused").run("join", revoked.URL, "-y"); r.code != 3 || !strings.Contains(r.stderr, "is revoked") {
		t.Fatalf("revoked v1 short link:\n%s", r)
	}
	// A token whose signature no longer matches is refused before the broker.
	tampered := "ic://join/" + inv.Token[:len(inv.Token)-8] + strings.Repeat("A", 8)
	if r := newUser(t, "mallory").run("join", tampered, "-y"); r.code != 2 && r.code != 3 {
		t.Fatalf("tampered v1 token:\n%s", r)
	}
}

func TestInviteListRevokeAndRefusedInvites(t *testing.T) {
	b := startBroker(t)
	olivia := newUser(t, "olivia")
	olivia.createMesh(b, "Platform")
	keep, gone := olivia.invite(), olivia.invite("--expires", "30m", "--email", "dana@example.com")
	if gone.EmailStatus != "not_sent" {
		t.Fatalf("email_status without SMTP = %q", gone.EmailStatus)
	}
	r := olivia.must("invite", "list")
	for _, want := range []string{keep.Code, gone.Code, "0/1", "active", "dana@example.com (not_sent)"} {
		if !strings.Contains(r.stdout, want) {
			t.Fatalf("invite list lacks %q:\n%s", want, r)
		}
	}
	if r := olivia.must("invite", "revoke", gone.InviteID); !strings.Contains(r.stdout, "Revoked invite") {
		t.Fatalf("revoke:\n%s", r)
	}
	if got := olivia.inviteByCode(gone.Code); got.Status != "revoked" {
		t.Fatalf("after revoke: %+v", got)
	}
	// Revoke by code, as copied from a link.
	byCode := olivia.invite()
	olivia.must("invite", "revoke", byCode.Code)
	if got := olivia.inviteByCode(byCode.Code); got.Status != "revoked" {
		t.Fatalf("after revoke by code: %+v", got)
	}
	if r := olivia.run("invite", "revoke", "inv_nope"); r.code != 3 || !strings.Contains(r.stderr, `no invite "inv_nope" in this mesh`) {
		t.Fatalf("revoking an unknown invite:\n%s", r)
	}

	dana, erin := newUser(t, "dana"), newUser(t, "erin")
	r = dana.run("join", gone.URL, "-y")
	if r.code != 3 || !strings.Contains(r.stderr, "is revoked") {
		t.Fatalf("revoked invite:\n%s", r)
	}
	dana.must("join", keep.URL, "-y")
	r = erin.run("join", keep.URL, "-y")
	if r.code != 3 || !strings.Contains(r.stderr, "exhausted") {
		t.Fatalf("exhausted invite:\n%s", r)
	}
	// An unknown code: the broker's 404 message, prefixed with what we did.
	r = erin.run("join", b.URL+"/i/ZZZZZZZZ", "-y")
	if r.code != 3 || !strings.Contains(r.stderr, "looking up invite ZZZZZZZZ") || !strings.Contains(r.stderr, "check the link") {
		t.Fatalf("unknown code:\n%s", r)
	}
	if m := erin.config().Meshes; len(m) != 0 {
		t.Fatalf("refused joins saved a mesh: %+v", m)
	}
}

func TestInviteCreateRefusesBadFlagsAndNonOwners(t *testing.T) {
	b := startBroker(t)
	olivia, erin := newUser(t, "olivia"), newUser(t, "erin")
	olivia.createMesh(b, "Platform")
	cases := []struct {
		args []string
		flag string
	}{
		{[]string{"--expires", "3x"}, "--expires"},
		{[]string{"--expires", "400d"}, "--expires"},
		{[]string{"--role", "boss"}, "--role"},
		{[]string{"--max-uses", "0"}, "--max-uses"},
		{[]string{"--email", "not an address"}, "--email"},
	}
	for _, c := range cases {
		r := olivia.run(append([]string{"invite", "create"}, c.args...)...)
		if r.code != 2 || !strings.Contains(r.stderr, c.flag) {
			t.Fatalf("%v: want exit 2 naming %s\n%s", c.args, c.flag, r)
		}
	}
	// An admin who is not the owner cannot sign a capability.
	erin.must("join", olivia.invite("--role", "admin").URL, "-y")
	r := erin.run("invite", "create")
	if r.code != 3 || !strings.Contains(r.stderr, "only the mesh owner") {
		t.Fatalf("invite create by a non-owner admin:\n%s", r)
	}
	// ...but can list the invites.
	erin.must("invite", "list")
}

func TestJoinExitCodes(t *testing.T) {
	dead := deadBrokerURL(t)
	cases := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"broker unreachable", []string{"join", dead + "/i/Ab3dE6gH", "-y"}, 4, "broker unreachable"},
		{"not a link", []string{"join", "please-let-me-in"}, 2, "neither an invite link"},
		{"bare code without a broker", []string{"join", "Ab3dE6gH"}, 2, "--broker"},
		{"two arguments", []string{"join", "a", "b"}, 2, "needs 1 argument"},
		{"malformed v1 token", []string{"join", "ic://join/AAAA"}, 2, "v1 invite link is not valid"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := newUser(t, "dana").run(c.args...)
			if r.code != c.code || !strings.Contains(r.stderr, c.want) {
				t.Fatalf("want exit %d mentioning %q, got\n%s", c.code, c.want, r)
			}
		})
	}
}

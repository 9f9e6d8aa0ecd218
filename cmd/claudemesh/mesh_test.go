package main_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/claudemesh/claudemesh/internal/config"
)

func TestMeshCreateSavesTheMeshAndPrintsTheNextStep(t *testing.T) {
	b := startBroker(t)
	olivia := newUser(t, "olivia")
	r := olivia.must("mesh", "create", "Platform Team", "--broker", b.URL)
	if !strings.Contains(r.stdout, "platform-team") || !strings.Contains(r.stdout, "claudemesh invite create") {
		t.Fatalf("output lacks the slug or the next step:\n%s", r)
	}
	r = olivia.must("mesh", "create", "Second", "--broker", b.URL, "--name", "Liv", "--json")
	var created map[string]string
	if err := json.Unmarshal([]byte(r.stdout), &created); err != nil {
		t.Fatalf("--json output is not JSON: %v\n%s", err, r)
	}
	if created["slug"] != "second" || created["mesh_id"] == "" || created["role"] != "admin" {
		t.Fatalf("created = %v", created)
	}
	st, err := b.srv.Store.GetMesh(t.Context(), created["mesh_id"])
	if err != nil || st.Name != "Second" {
		t.Fatalf("mesh not in the broker's store: %+v, %v", st, err)
	}
}

func TestExitCodes(t *testing.T) {
	guarded := startBroker(t, func(c *config.Broker) { c.AdminToken = "s3cret" })
	dead := deadBrokerURL(t)
	cases := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"ok", []string{"version"}, 0, "claudemesh"},
		{"unknown flag", []string{"mesh", "create", "x", "--bogus"}, 2, "unknown flag"},
		{"missing argument", []string{"mesh", "create"}, 2, "needs 1 argument"},
		{"unknown command", []string{"frobnicate"}, 2, "unknown command"},
		{"unknown subcommand of a group", []string{"invite", "crate"}, 2, "unknown command"},
		{"unknown state subcommand", []string{"state", "zap"}, 2, "unknown command"},
		{"a group alone prints its help", []string{"mesh"}, 0, "create"},
		{"broker unreachable", []string{"mesh", "create", "x", "--broker", dead}, 4, "broker unreachable"},
		{"refused by the broker", []string{"mesh", "create", "x", "--broker", guarded.URL, "--admin-token", "wrong"}, 3, "forbidden"},
		{"accepted with the token", []string{"mesh", "create", "x", "--broker", guarded.URL, "--admin-token", "s3cret"}, 0, "Created mesh"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			u := newUser(t, "dana")
			r := u.run(c.args...)
			if r.code != c.code || !strings.Contains(r.stdout+r.stderr, c.want) {
				t.Fatalf("want exit %d mentioning %q, got\n%s", c.code, c.want, r)
			}
		})
	}
}

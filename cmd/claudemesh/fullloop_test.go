package main_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

// THE FULL LOOP, as two people do it with the binary only: olivia creates a
// mesh and an invite, bob joins with it, then a DM and a broadcast go each
// way and each `inbox` shows the plaintext. `peers` lists live sessions
// only and one-shot commands are ephemeral, so for the peers check each
// user keeps one real session open (what Claude Code's bridge holds); with
// those sessions up, a DM is delivered to the live session instead.
func TestFullLoop(t *testing.T) {
	b := startBroker(t)
	olivia, bob := newUser(t, "olivia"), newUser(t, "bob")
	olivia.must("mesh", "create", "Platform", "--broker", b.URL)
	r := olivia.must("invite", "create", "--json")
	var inv struct{ URL string }
	if err := json.Unmarshal([]byte(r.stdout), &inv); err != nil || inv.URL == "" {
		t.Fatalf("invite create --json: %v\n%s", err, r)
	}
	if r := bob.must("join", inv.URL, "-y"); !strings.Contains(r.stdout, "Joined") {
		t.Fatalf("join -y:\n%s", r)
	}

	sendJSON(t, olivia, "bob", "dm from olivia")
	sendJSON(t, bob, "olivia", "dm from bob")
	sendJSON(t, olivia, "*", "broadcast from olivia")
	sendJSON(t, bob, "*", "broadcast from bob")
	for _, c := range []struct {
		who  *user
		want []string
	}{
		{bob, []string{"olivia: dm from olivia (direct, box)", "olivia: broadcast from olivia (broadcast, secretbox)"}},
		{olivia, []string{"bob: dm from bob (direct, box)", "bob: broadcast from bob (broadcast, secretbox)"}},
	} {
		var got []string
		for _, it := range inboxJSON(t, c.who) {
			got = append(got, it.From+": "+it.Text+" ("+it.Kind+", "+it.Enc+")")
		}
		if !slices.Equal(got, c.want) {
			t.Fatalf("%s's inbox = %q, want %q", c.who.name, got, c.want)
		}
		if r := c.who.must("inbox"); !strings.Contains(r.stdout, "No new messages") {
			t.Fatalf("%s's inbox again:\n%s", c.who.name, r)
		}
	}

	oliviaLive, bobLive := olivia.liveSession(t, "olivia"), bob.liveSession(t, "bob")
	for _, u := range []*user{olivia, bob} {
		if names := peerNames(t, u); !slices.Equal(names, []string{"bob", "olivia"}) {
			t.Fatalf("%s's peers = %v, want both live sessions and no one-shot command", u.name, names)
		}
	}
	sendJSON(t, olivia, "bob", "to your live session")
	sendJSON(t, bob, "olivia", "and back")
	pollUntil(t, "the live sessions received", func() bool {
		return slices.Equal(bobLive.received(), []string{"to your live session"}) && slices.Equal(oliviaLive.received(), []string{"and back"})
	})
}

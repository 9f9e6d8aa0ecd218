package broker

import (
	"testing"
	"time"

	"github.com/claudemesh/claudemesh/internal/protocol"
	"github.com/claudemesh/claudemesh/internal/store"
)

func TestHookGateTakesNewestMatchAndForgetsAfterTenSeconds(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	sess := func(id, cwd string) *session {
		return &session{meshID: "m", member: store.Member{ID: "bob"}, sessionID: id, hello: &protocol.ClientFrame{CWD: cwd}}
	}
	cases := []struct {
		name   string
		parked []pendingHook
		s      *session
		at     time.Time
		want   string // status taken, "" for none
	}{
		{"session id beats cwd", []pendingHook{
			{meshID: "m", memberID: "bob", sessionID: "s1", status: "working", at: t0},
			{meshID: "m", memberID: "bob", sessionID: "other", cwd: "/r", status: "idle", at: t0.Add(time.Second)},
		}, sess("s1", "/r"), t0.Add(2 * time.Second), "working"},
		{"newest of several", []pendingHook{
			{meshID: "m", memberID: "bob", sessionID: "s1", status: "working", at: t0},
			{meshID: "m", memberID: "bob", sessionID: "s1", status: "idle", at: t0.Add(time.Second)},
		}, sess("s1", ""), t0.Add(2 * time.Second), "idle"},
		{"cwd when no session id matches", []pendingHook{
			{meshID: "m", memberID: "bob", sessionID: "x", cwd: "/r", status: "working", at: t0},
		}, sess("s1", "/r"), t0.Add(time.Second), "working"},
		{"another member's hook", []pendingHook{
			{meshID: "m", memberID: "carol", sessionID: "s1", status: "working", at: t0},
		}, sess("s1", ""), t0.Add(time.Second), ""},
		{"expired after 10 s", []pendingHook{
			{meshID: "m", memberID: "bob", sessionID: "s1", status: "working", at: t0},
		}, sess("s1", ""), t0.Add(pendingHookTTL), ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := newHookGate(10)
			for _, h := range tc.parked {
				g.park(h)
			}
			got, ok := g.take(tc.s, tc.at)
			if (tc.want == "") == ok || (ok && got.status != tc.want) {
				t.Fatalf("take = %+v, %v; want %q", got, ok, tc.want)
			}
			if ok {
				if again, ok := g.take(tc.s, tc.at); ok && again.sessionID == tc.s.sessionID {
					t.Fatalf("taken twice: %+v", again)
				}
			}
		})
	}
}

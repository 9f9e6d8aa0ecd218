package broker

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/claudemesh/claudemesh/internal/store"
	"github.com/claudemesh/claudemesh/internal/store/storetest"
)

// routeFixture is a broker (not serving) whose hub holds n live sessions of
// n members in one mesh: the routing tables of a busy mesh.
func routeFixture(b *testing.B, n int) (*Broker, []*session) {
	st := storetest.Backends(b)[0].Open(b) // sqlite: routing reads the store only on a miss
	ctx := context.Background()
	mesh := store.Mesh{ID: "mesh_route", Name: "r", Slug: "r", OwnerPubkey: fmt.Sprintf("%064x", 0), CreatedAt: time.Now()}
	if err := st.CreateMesh(ctx, mesh); err != nil {
		b.Fatal(err)
	}
	br, err := New(Options{Store: st, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	sessions := make([]*session, n)
	for i := range sessions {
		m := store.Member{ID: fmt.Sprintf("mem_%d", i), MeshID: mesh.ID, Pubkey: fmt.Sprintf("%064x", i+1),
			DisplayName: fmt.Sprintf("peer%d", i), Role: store.RoleMember, JoinedAt: time.Now()}
		if err := st.AddMember(ctx, m); err != nil {
			b.Fatal(err)
		}
		s := &session{b: br, meshID: mesh.ID, member: m, sessionID: fmt.Sprintf("s%d", i),
			sessionPubkey: fmt.Sprintf("%064x", 1<<20+i), displayName: m.DisplayName}
		s.routingAddr = s.sessionPubkey
		if _, ok := br.hub.register(s, 1<<20); !ok {
			b.Fatal("register refused")
		}
		sessions[i] = s
	}
	return br, sessions
}

// BenchmarkRoute resolves the targets of one send in a mesh of 500 live
// sessions: a DM by session key (the common case) and a broadcast.
//
//	go test -run '^$' -bench Route -benchmem ./internal/broker/
func BenchmarkRoute(b *testing.B) {
	br, sessions := routeFixture(b, 500)
	ctx := context.Background()
	n := len(sessions)
	for _, c := range []struct {
		name    string
		targets func(i int) []string
		want    int
	}{
		{"direct", func(i int) []string { return []string{sessions[(i+1)%n].sessionPubkey} }, 1},
		{"broadcast", func(int) []string { return []string{"*"} }, n - 1},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				i++
				rt, perr := br.resolve(ctx, sessions[i%n], c.targets(i))
				if perr != nil || len(rt.recipients) != c.want {
					b.Fatalf("%d recipients (want %d), %v", len(rt.recipients), c.want, perr)
				}
			}
		})
	}
}

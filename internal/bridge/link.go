package bridge

import (
	"context"
	"fmt"
	"time"

	"github.com/claudemesh/claudemesh/internal/claudecode"
	"github.com/claudemesh/claudemesh/internal/cliconfig"
	"github.com/claudemesh/claudemesh/internal/client"
	"github.com/claudemesh/claudemesh/internal/protocol"
)

// link is the bridge's session on one mesh.
type link struct {
	b       *Bridge
	mesh    cliconfig.Mesh
	keys    cliconfig.Keys
	meshKey *[32]byte // nil when the config has no root key
	id      *identity
	c       *client.Client
}

func newLink(b *Bridge, m cliconfig.Mesh) (*link, error) {
	k, err := m.Keys()
	if err != nil {
		return nil, err
	}
	l := &link{b: b, mesh: m, keys: k}
	if k.RootKey != nil {
		if l.meshKey, err = client.MeshKey(k.RootKey, m.MeshID); err != nil {
			return nil, err
		}
	}
	if l.id, err = loadIdentity(b.opts.ConfigDir, m.MeshID, b.opts.CWD, b.opts.SessionID); err != nil {
		return nil, fmt.Errorf("mesh %s: %w", m.Slug, err)
	}
	l.c, err = client.New(client.Config{
		BrokerURL: m.BrokerURL, MeshID: m.MeshID, MemberID: m.MemberID, MemberKey: k.Member,
		SessionID: l.id.SessionID, SessionKey: l.id.Key,
		DisplayName: b.opts.DisplayName, Groups: b.opts.Groups, PeerType: "ai", Channel: "claude-code",
		CWD: b.opts.CWD, Handler: l.handle, Logger: b.log.With("mesh", m.Slug),
		BackoffMin: b.opts.BackoffMin, BackoffMax: b.opts.BackoffMax,
	})
	if err != nil {
		l.id.release()
		return nil, fmt.Errorf("mesh %s: %w", m.Slug, err)
	}
	return l, nil
}

// run keeps the session connected until ctx ends or the broker refuses
// this identity for good, which is logged (tools then report it).
func (l *link) run(ctx context.Context) {
	if l.b.opts.Role != "" {
		go l.announceRole(ctx)
	}
	if err := l.c.Run(ctx); err != nil && ctx.Err() == nil {
		l.b.log.Error("mesh session ended", "mesh", l.mesh.Slug, "err", err)
	}
}

// announceRole makes the launch role the first summary, once connected.
func (l *link) announceRole(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	f := map[string]any{"type": protocol.TypeSetSummary, "summary": "role: " + l.b.opts.Role}
	if _, err := l.c.Request(ctx, f); err != nil && ctx.Err() == nil {
		l.b.log.Warn("setting the role summary", "mesh", l.mesh.Slug, "err", err)
	}
}

// handle receives this mesh's events in order. A nil return acks a message;
// client.ErrKeep holds it unacked for check_messages.
func (l *link) handle(ctx context.Context, ev client.Event) error {
	b := l.b
	switch {
	case ev.State != nil:
		if b.opts.Mode == claudecode.ModePush {
			l.notifyLogged(ctx, l.stateEvent(ev.State))
		}
		return nil
	case ev.Push.Subtype == "system":
		if b.opts.Mode == claudecode.ModePush {
			l.notifyLogged(ctx, l.systemEvent(ev.Push))
		}
		return nil
	}
	p := *ev.Push
	if b.opts.Mode != claudecode.ModePush {
		b.inbox.add(l, p)
		if b.opts.Mode == claudecode.ModeInbox {
			n, senders := b.inbox.summary()
			l.notifyLogged(ctx, countEvent(l, &p, n, senders))
		}
		return client.ErrKeep
	}
	text, openErr := l.c.Open(&p, l.meshKey)
	kept := false
	err := b.note.deliver(ctx, l.messageEvent(&p, string(text), openErr),
		func() { b.inbox.add(l, p); kept = true })
	switch {
	case kept:
		b.log.Warn("message not pushed; kept for check_messages", "mesh", l.mesh.Slug, "messageId", p.MessageID, "err", err)
		return client.ErrKeep
	case err != nil:
		return err // the bridge is ending: unacked, the broker delivers it again
	}
	return nil
}

func (l *link) notifyLogged(ctx context.Context, ev channelEvent) {
	if err := l.b.note.notify(ctx, ev); err != nil && ctx.Err() == nil {
		l.b.log.Warn("channel event not sent", "mesh", l.mesh.Slug, "kind", ev.Meta["kind"], "err", err)
	}
}

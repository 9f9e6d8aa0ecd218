package broker

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"

	"github.com/claudemesh/claudemesh/internal/ids"
	"github.com/claudemesh/claudemesh/internal/protocol"
	"github.com/claudemesh/claudemesh/internal/store"
)

// Shared state and memory (protocol.md §6). These requests read and write
// the store directly: they are rare next to messages and never on the send
// path. Values and memories are plaintext on the broker by design; logs and
// audit events carry keys only.

var jsonNull = json.RawMessage("null")

func (b *Broker) handleSetState(ctx context.Context, s *session, f *protocol.ClientFrame) {
	if perr := f.ValidateSetState(); perr != nil {
		b.fail(s, f.ReqID, perr)
		return
	}
	e, err := b.store.SetState(ctx, store.StateEntry{MeshID: s.meshID, Key: f.Key,
		Value: string(bytes.TrimSpace(f.Value)), UpdatedBy: s.displayName, UpdatedAt: b.now()}, f.IfVersion)
	switch {
	case errors.Is(err, store.ErrConflict):
		b.fail(s, f.ReqID, protocol.Errorf(protocol.CodeVersionConflict, "state key "+quoteTarget(f.Key)+" is not at the version given in ifVersion; read it again and retry"))
		return
	case err != nil:
		b.fail(s, f.ReqID, errStoreDown)
		return
	}
	b.audit(s.meshID, "state_set", s.member.Pubkey, map[string]any{"key": e.Key})
	b.broadcastState(s, protocol.StateChange{Type: protocol.TypeStateChange, Key: e.Key, Value: json.RawMessage(e.Value),
		UpdatedBy: e.UpdatedBy, Version: e.Version, UpdatedAt: isoTime(e.UpdatedAt)})
	if f.ReqID != "" {
		s.send(protocol.Encode(protocol.OK{Type: protocol.TypeOK, ReqID: f.ReqID, Version: &e.Version}))
	}
}

func (b *Broker) handleGetState(ctx context.Context, s *session, f *protocol.ClientFrame) {
	if perr := f.ValidateKey(); perr != nil {
		b.fail(s, f.ReqID, perr)
		return
	}
	e, err := b.store.GetState(ctx, s.meshID, f.Key)
	res := protocol.StateResult{Type: protocol.TypeStateResult, ReqID: f.ReqID}
	switch {
	case errors.Is(err, store.ErrNotFound):
		res.StateEntry = protocol.StateEntry{Key: f.Key, Value: jsonNull}
	case err != nil:
		b.fail(s, f.ReqID, errStoreDown)
		return
	default:
		res.StateEntry = wireState(e)
	}
	s.send(protocol.Encode(res))
}

func (b *Broker) handleListState(ctx context.Context, s *session, f *protocol.ClientFrame) {
	list, err := b.store.ListState(ctx, s.meshID)
	if err != nil {
		b.fail(s, f.ReqID, errStoreDown)
		return
	}
	out := make([]protocol.StateEntry, len(list))
	for i, e := range list {
		out[i] = wireState(e)
	}
	s.send(protocol.Encode(protocol.StateList{Type: protocol.TypeStateList, Entries: out, ReqID: f.ReqID}))
}

func (b *Broker) handleDeleteState(ctx context.Context, s *session, f *protocol.ClientFrame) {
	if perr := f.ValidateKey(); perr != nil {
		b.fail(s, f.ReqID, perr)
		return
	}
	e, err := b.store.DeleteState(ctx, s.meshID, f.Key)
	switch {
	case errors.Is(err, store.ErrNotFound):
		b.fail(s, f.ReqID, protocol.Errorf(protocol.CodeNotFound, "no state key "+quoteTarget(f.Key)+" in this mesh"))
		return
	case err != nil:
		b.fail(s, f.ReqID, errStoreDown)
		return
	}
	b.audit(s.meshID, "state_deleted", s.member.Pubkey, map[string]any{"key": e.Key})
	b.broadcastState(s, protocol.StateChange{Type: protocol.TypeStateChange, Key: e.Key, Value: jsonNull,
		UpdatedBy: s.displayName, Version: e.Version, UpdatedAt: isoTime(b.now()), Deleted: true})
	b.ok(s, f.ReqID, nil)
}

// broadcastState tells every other live session of the mesh. state_change
// is not a message: it is neither stored nor gated, and ephemeral sessions
// (one-shot commands) do not get it.
func (b *Broker) broadcastState(from *session, ch protocol.StateChange) {
	frame := protocol.Encode(ch)
	for _, x := range b.hub.sessions(from.meshID) {
		if x != from && !x.ephemeral {
			x.send(frame)
		}
	}
	b.cluster.forwardState(from.meshID, ch)
}

func wireState(e store.StateEntry) protocol.StateEntry {
	return protocol.StateEntry{Key: e.Key, Value: json.RawMessage(e.Value), UpdatedBy: e.UpdatedBy,
		UpdatedAt: isoTime(e.UpdatedAt), Version: e.Version}
}

func (b *Broker) handleRemember(ctx context.Context, s *session, f *protocol.ClientFrame) {
	if perr := f.ValidateRemember(); perr != nil {
		b.fail(s, f.ReqID, perr)
		return
	}
	m := store.Memory{ID: ids.New("mem"), MeshID: s.meshID, Content: f.Content, Tags: f.Tags,
		RememberedBy: s.displayName, RememberedAt: b.now()}
	if err := b.store.Remember(ctx, m); err != nil {
		b.fail(s, f.ReqID, errStoreDown)
		return
	}
	s.send(protocol.Encode(protocol.MemoryStored{Type: protocol.TypeMemoryStored, ID: m.ID, ReqID: f.ReqID}))
}

func (b *Broker) handleRecall(ctx context.Context, s *session, f *protocol.ClientFrame) {
	limit, perr := f.ValidateRecall()
	if perr != nil {
		b.fail(s, f.ReqID, perr)
		return
	}
	found, err := b.store.Recall(ctx, s.meshID, f.Query, limit)
	if err != nil {
		b.fail(s, f.ReqID, errStoreDown)
		return
	}
	out := make([]protocol.MemoryResult, len(found))
	for i, m := range found {
		tags := m.Tags
		if tags == nil {
			tags = []string{}
		}
		out[i] = protocol.MemoryResult{ID: m.ID, Content: m.Content, Tags: tags, RememberedBy: m.RememberedBy,
			RememberedAt: isoTime(m.RememberedAt), Rank: m.Rank}
	}
	s.send(protocol.Encode(protocol.MemoryResults{Type: protocol.TypeMemoryResults, Memories: out, ReqID: f.ReqID}))
}

func (b *Broker) handleForget(ctx context.Context, s *session, f *protocol.ClientFrame) {
	if perr := f.ValidateForget(); perr != nil {
		b.fail(s, f.ReqID, perr)
		return
	}
	err := b.store.Forget(ctx, s.meshID, f.MemoryID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		b.fail(s, f.ReqID, protocol.Errorf(protocol.CodeNotFound, "no memory with that id in this mesh"))
	case err != nil:
		b.fail(s, f.ReqID, errStoreDown)
	default:
		b.ok(s, f.ReqID, nil)
	}
}

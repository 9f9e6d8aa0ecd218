package bridge

import (
	"slices"
	"sync"

	"github.com/claudemesh/claudemesh/internal/protocol"
)

// kept is a message held for check_messages: not pushed, not yet acked
// (client.ErrKeep), so the broker still has it if this process dies.
type kept struct {
	link *link
	push protocol.Push
}

// inbox holds kept messages in arrival order. Its mutex is a leaf lock.
type inbox struct {
	mu    sync.Mutex
	items []kept
}

func (in *inbox) add(l *link, p protocol.Push) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if !slices.ContainsFunc(in.items, func(k kept) bool { return k.link == l && k.push.MessageID == p.MessageID }) {
		in.items = append(in.items, kept{l, p})
	}
}

// take removes and returns every kept message.
func (in *inbox) take() []kept {
	in.mu.Lock()
	defer in.mu.Unlock()
	items := in.items
	in.items = nil
	return items
}

// putBack returns messages that check_messages could not finish, ahead of
// newer ones.
func (in *inbox) putBack(items []kept) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.items = append(slices.Clone(items), in.items...)
}

// summary counts the waiting messages and names their senders, in order.
func (in *inbox) summary() (int, []string) {
	in.mu.Lock()
	defer in.mu.Unlock()
	var names []string
	for _, k := range in.items {
		if !slices.Contains(names, k.push.SenderName) {
			names = append(names, k.push.SenderName)
		}
	}
	return len(in.items), names
}

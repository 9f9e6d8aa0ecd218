package store

import (
	"encoding/json"
	"fmt"
	"time"
)

// toMS truncates t to the millisecond precision both backends store.
func toMS(t time.Time) time.Time { return time.UnixMilli(t.UnixMilli()).UTC() }

func toMSPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	v := toMS(*t)
	return &v
}

func encodeGroups(g []Group) (string, error) {
	if g == nil {
		g = []Group{}
	}
	b, err := json.Marshal(g)
	if err != nil {
		return "", fmt.Errorf("store: encode groups: %w", err)
	}
	return string(b), nil
}

func decodeGroups(b []byte) ([]Group, error) {
	var g []Group
	if len(b) == 0 {
		return []Group{}, nil
	}
	if err := json.Unmarshal(b, &g); err != nil {
		return nil, fmt.Errorf("store: decode groups: %w", err)
	}
	if g == nil {
		g = []Group{}
	}
	return g, nil
}

// cmidKey is an idempotency key: a ClientMessageID is scoped to its sender.
type cmidKey struct{ sender, cmid string }

// priorMsg is a stored message that already holds an idempotency key.
type priorMsg struct {
	seq        int64
	id         string
	createdAt  time.Time
	recipients int
}

// commitPlan is the backend-independent half of CommitMessages: which
// messages of a batch are written, which answer as duplicates, and which
// older keys are released. Both backends build it the same way, so the
// idempotency rules cannot drift apart.
type commitPlan struct {
	msgs     []NewMessage
	results  []CommitResult
	insert   []bool        // msgs[i] is written
	keepCMID []bool        // msgs[i] is written with its ClientMessageID
	dupOf    []int         // msgs[i] repeats msgs[dupOf[i]] of this batch; -1 otherwise
	recips   [][]Recipient // msgs[i]'s recipients, each (member, session) once
	clear    []int64       // stored messages whose ClientMessageID is released
}

// planCommit decides the batch given the stored holders of its keys. A key
// used at or after CreatedAt-window is a duplicate; an older use is released
// so the key can be used again. window <= 0 disables deduplication.
func planCommit(msgs []NewMessage, window time.Duration, stored map[cmidKey]priorMsg) *commitPlan {
	n := len(msgs)
	p := &commitPlan{
		msgs:     msgs,
		results:  make([]CommitResult, n),
		insert:   make([]bool, n),
		keepCMID: make([]bool, n),
		dupOf:    make([]int, n),
		recips:   make([][]Recipient, n),
	}
	type holder struct {
		idx   int // batch index, -1 for a stored message
		prior priorMsg
	}
	latest := make(map[cmidKey]holder, len(stored))
	for k, v := range stored {
		latest[k] = holder{idx: -1, prior: v}
	}
	for i, m := range msgs {
		p.dupOf[i] = -1
		if m.ClientMessageID == "" {
			p.insert[i] = true
			p.recips[i] = uniqueRecipients(m.Recipients)
			continue
		}
		k := cmidKey{m.SenderMemberID, m.ClientMessageID}
		created := toMS(m.CreatedAt)
		if h, ok := latest[k]; ok {
			if window > 0 && !h.prior.createdAt.Before(created.Add(-window)) {
				if h.idx >= 0 {
					p.dupOf[i] = h.idx
				} else {
					p.results[i] = CommitResult{MessageID: h.prior.id, Seq: h.prior.seq,
						Duplicate: true, Recipients: h.prior.recipients}
				}
				continue
			}
			if h.idx >= 0 {
				p.keepCMID[h.idx] = false
			} else {
				p.clear = append(p.clear, h.prior.seq)
			}
		}
		p.insert[i], p.keepCMID[i] = true, true
		p.recips[i] = uniqueRecipients(m.Recipients)
		latest[k] = holder{idx: i, prior: priorMsg{createdAt: created}}
	}
	return p
}

// batchKeys returns the distinct idempotency keys of the batch, in batch order.
func batchKeys(msgs []NewMessage) []cmidKey {
	seen := make(map[cmidKey]bool)
	var out []cmidKey
	for _, m := range msgs {
		k := cmidKey{m.SenderMemberID, m.ClientMessageID}
		if m.ClientMessageID != "" && !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	return out
}

// cmid is the value stored for msgs[i]: nil when it has none or was released.
func (p *commitPlan) cmid(i int) *string {
	if !p.keepCMID[i] {
		return nil
	}
	return &p.msgs[i].ClientMessageID
}

// finish fills the results once every written message has its seq.
func (p *commitPlan) finish(seqs []int64) []CommitResult {
	for i, m := range p.msgs {
		switch {
		case p.insert[i]:
			p.results[i] = CommitResult{MessageID: m.ID, Seq: seqs[i], Recipients: len(p.recips[i])}
		case p.dupOf[i] >= 0:
			r := p.results[p.dupOf[i]]
			r.Duplicate = true
			p.results[i] = r
		}
	}
	return p.results
}

// uniqueRecipients drops repeated (member, session) pairs: a message has at
// most one delivery row per recipient, and the ack counts rows. A repeat
// that is pinned pins the kept row: handing a pinned message to another
// session is the one mistake that must not happen.
func uniqueRecipients(rs []Recipient) []Recipient {
	type key struct{ member, session string }
	seen := make(map[key]int, len(rs)) // index in out
	out := make([]Recipient, 0, len(rs))
	for _, r := range rs {
		k := key{r.MemberID, r.SessionID}
		if i, ok := seen[k]; ok {
			out[i].Pinned = out[i].Pinned || r.Pinned
			continue
		}
		seen[k] = len(out)
		out = append(out, r)
	}
	return out
}

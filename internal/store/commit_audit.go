package store

import (
	"strconv"
	"strings"
)

// EventMessageSent is the audit event CommitMessages writes for every
// message it stores, in the batch's own transaction: the audit row and the
// message commit together or not at all, and a batch costs one commit.
const EventMessageSent = "message_sent"

// sentAudit is the message_sent entry of msgs[i] of the plan. Details are
// metadata only: id, recipient count, size and priority, never content.
func (p *commitPlan) sentAudit(i int) pendingAudit {
	m := &p.msgs[i]
	return pendingAudit{
		meshID:  m.MeshID,
		at:      m.CreatedAt,
		event:   EventMessageSent,
		actor:   m.SenderMemberPubkey,
		details: messageSentDetails(m.ID, m.Priority, len(p.recips[i]), len(m.Nonce)+len(m.Ciphertext)),
	}
}

// sentAudits lists the message_sent entries of the written messages in
// batch order (which is seq order).
func (p *commitPlan) sentAudits() []pendingAudit {
	out := make([]pendingAudit, 0, len(p.msgs))
	for i := range p.msgs {
		if p.insert[i] {
			out = append(out, p.sentAudit(i))
		}
	}
	return out
}

// messageSentDetails writes the canonical details of message_sent without
// a map and a reflective encoder on the hot path. The output is byte for
// byte what canonicalDetails makes of the same map (keys sorted, compact);
// a string that would need escaping takes the general path instead.
func messageSentDetails(id, priority string, recipients, size int) string {
	if !plainJSON(id) || !plainJSON(priority) {
		d, err := canonicalDetails(map[string]any{"message_id": id, "priority": priority,
			"recipients": recipients, "size_bytes": size})
		if err != nil {
			return "{}" // unreachable: strings and ints always encode
		}
		return d
	}
	var b strings.Builder
	b.Grow(64 + len(id) + len(priority))
	b.WriteString(`{"message_id":"`)
	b.WriteString(id)
	b.WriteString(`","priority":"`)
	b.WriteString(priority)
	b.WriteString(`","recipients":`)
	b.WriteString(strconv.Itoa(recipients))
	b.WriteString(`,"size_bytes":`)
	b.WriteString(strconv.Itoa(size))
	b.WriteByte('}')
	return b.String()
}

// plainJSON reports whether encoding/json writes s between quotes unchanged.
func plainJSON(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

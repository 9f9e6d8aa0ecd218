package broker

import "time"

// AuditEvent is one metadata-only audit record (invites.md §7): never
// message content, never keys.
type AuditEvent struct {
	MeshID  string
	Event   string // session_connected, session_disconnected, auth_failed, message_sent, ...
	Actor   string // the acting member's pubkey, when known
	Details map[string]any
	At      time.Time
}

// Auditor records audit events. The broker calls Record on hot paths, so it
// must not block: implementations queue and write in batches.
type Auditor interface {
	Record(AuditEvent)
}

type noAudit struct{}

func (noAudit) Record(AuditEvent) {}

func (b *Broker) audit(meshID, event, actor string, details map[string]any) {
	b.opts.Audit.Record(AuditEvent{MeshID: meshID, Event: event, Actor: actor, Details: details, At: b.now()})
}

package store

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
)

// AuditGenesis is the prev_hash of a mesh's first audit row.
var AuditGenesis = strings.Repeat("0", 64)

// auditCanonical is the hashed form of a row. Fields are declared in
// sorted key order, so encoding/json writes the keys sorted.
type auditCanonical struct {
	Actor    string          `json:"actor"`
	At       int64           `json:"at"` // ms since the epoch
	Details  json.RawMessage `json:"details"`
	Event    string          `json:"event"`
	MeshID   string          `json:"mesh_id"`
	PrevHash string          `json:"prev_hash"`
	Seq      int64           `json:"seq"`
}

// AuditHash is hex sha256 over prev_hash followed by the row's canonical
// JSON (sorted keys; details exactly as stored).
func AuditHash(r AuditRecord) (string, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	err := enc.Encode(auditCanonical{Actor: r.Actor, At: r.At.UnixMilli(), Details: json.RawMessage(r.Details),
		Event: r.Event, MeshID: r.MeshID, PrevHash: r.PrevHash, Seq: r.Seq})
	if err != nil {
		return "", fmt.Errorf("audit row %d: details are not valid JSON: %w", r.Seq, err)
	}
	h := sha256.New()
	h.Write([]byte(r.PrevHash))
	h.Write(bytes.TrimSuffix(buf.Bytes(), []byte("\n")))
	return hex.EncodeToString(h.Sum(nil)), nil
}

// canonicalDetails encodes details once, with sorted keys (encoding/json
// sorts map keys at every level); the stored text is what gets hashed.
func canonicalDetails(d map[string]any) (string, error) {
	if d == nil {
		return "{}", nil
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(d); err != nil {
		return "", fmt.Errorf("store: audit details: %w", err)
	}
	return string(bytes.TrimSuffix(buf.Bytes(), []byte("\n"))), nil
}

// pendingAudit is an entry whose details are already canonical JSON: the
// form every chain writer appends.
type pendingAudit struct {
	meshID, event, actor, details string
	at                            time.Time
}

// pendingAudits canonicalizes entries, dropping those that name no mesh.
func pendingAudits(entries []AuditEntry) ([]pendingAudit, error) {
	out := make([]pendingAudit, 0, len(entries))
	for _, e := range entries {
		if e.MeshID == "" {
			continue
		}
		details, err := canonicalDetails(e.Details)
		if err != nil {
			return nil, err
		}
		out = append(out, pendingAudit{meshID: e.MeshID, at: e.At, event: e.Event, actor: e.Actor, details: details})
	}
	return out, nil
}

// chainLink is one row being appended, computed from its mesh's head.
func chainLink(e pendingAudit, head AuditHead) (AuditRecord, error) {
	at := e.at
	if at.IsZero() {
		at = time.Now()
	}
	r := AuditRecord{MeshID: e.meshID, Seq: head.Seq + 1, At: toMS(at), Event: e.event, Actor: e.actor,
		Details: e.details, PrevHash: head.Hash}
	var err error
	if r.Hash, err = AuditHash(r); err != nil {
		return AuditRecord{}, err
	}
	return r, nil
}

// groupByMesh keeps the given order inside each mesh and lists meshes in
// sorted order, so writers lock chain heads in one global order.
func groupByMesh(entries []pendingAudit) (meshes []string, byMesh map[string][]pendingAudit) {
	byMesh = map[string][]pendingAudit{}
	for _, e := range entries {
		if e.meshID == "" {
			continue
		}
		if _, ok := byMesh[e.meshID]; !ok {
			meshes = append(meshes, e.meshID)
		}
		byMesh[e.meshID] = append(byMesh[e.meshID], e)
	}
	slices.Sort(meshes)
	return meshes, byMesh
}

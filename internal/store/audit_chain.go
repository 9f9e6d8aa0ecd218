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

// chainLink is one row being appended, computed from its mesh's head.
func chainLink(e AuditEntry, head AuditHead) (AuditRecord, error) {
	details, err := canonicalDetails(e.Details)
	if err != nil {
		return AuditRecord{}, err
	}
	at := e.At
	if at.IsZero() {
		at = time.Now()
	}
	r := AuditRecord{MeshID: e.MeshID, Seq: head.Seq + 1, At: toMS(at), Event: e.Event, Actor: e.Actor,
		Details: details, PrevHash: head.Hash}
	if r.Hash, err = AuditHash(r); err != nil {
		return AuditRecord{}, err
	}
	return r, nil
}

// groupByMesh keeps the given order inside each mesh and lists meshes in
// sorted order, so writers lock chain heads in one global order.
func groupByMesh(entries []AuditEntry) (meshes []string, byMesh map[string][]AuditEntry) {
	byMesh = map[string][]AuditEntry{}
	for _, e := range entries {
		if e.MeshID == "" {
			continue
		}
		if _, ok := byMesh[e.MeshID]; !ok {
			meshes = append(meshes, e.MeshID)
		}
		byMesh[e.MeshID] = append(byMesh[e.MeshID], e)
	}
	slices.Sort(meshes)
	return meshes, byMesh
}

package store

import (
	"context"
	"strings"
	"time"
	"unicode"
)

// StateEntry is one shared key-value pair of a mesh (protocol.md §6).
type StateEntry struct {
	MeshID    string
	Key       string
	Value     string // JSON text exactly as the client sent it
	UpdatedBy string // display name of the session that wrote it
	Version   int64  // 1 on creation, +1 on every write; restarts after a delete
	UpdatedAt time.Time
}

// Memory is one remembered fact of a mesh.
type Memory struct {
	ID           string
	MeshID       string
	Content      string
	Tags         []string
	RememberedBy string
	RememberedAt time.Time
	Rank         float64 // relevance from Recall; larger is more relevant
}

// StateStore holds shared key-value state and searchable memory
// (protocol.md §6).
type StateStore interface {
	// SetState writes e.Value under (e.MeshID, e.Key) in one atomic
	// statement and returns the stored entry with its new Version. With
	// ifVersion nil the write is unconditional; *ifVersion == 0 means "only
	// if the key does not exist"; otherwise the stored version must equal
	// *ifVersion. A failed condition is ErrConflict and writes nothing, so of
	// two concurrent writers with the same ifVersion exactly one wins.
	SetState(ctx context.Context, e StateEntry, ifVersion *int64) (StateEntry, error)
	// GetState returns the entry or ErrNotFound.
	GetState(ctx context.Context, meshID, key string) (StateEntry, error)
	// ListState returns the mesh's entries sorted by key (byte order).
	ListState(ctx context.Context, meshID string) ([]StateEntry, error)
	// DeleteState removes the key and returns the entry it removed, or ErrNotFound.
	DeleteState(ctx context.Context, meshID, key string) (StateEntry, error)

	// Remember stores a memory; m.ID is chosen by the caller.
	Remember(ctx context.Context, m Memory) error
	// Recall runs a full-text search over content and tags of the mesh's
	// memories and returns at most limit matches, most relevant first. Any
	// word of the query may match (more matching words rank higher); a query
	// without words matches nothing.
	Recall(ctx context.Context, meshID, query string, limit int) ([]Memory, error)
	// Forget deletes a memory of the mesh, or returns ErrNotFound.
	Forget(ctx context.Context, meshID, id string) error
}

// Search limits keep one hostile query cheap.
const (
	maxSearchTerms   = 32
	maxSearchTermLen = 64
)

// searchTerms splits a query into lowercase words of letters and digits.
// Backends build their query syntax from these alone, so no user text ever
// reaches an FTS5 or tsquery parser as operators.
func searchTerms(query string) []string {
	words := strings.FieldsFunc(strings.ToLower(query), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	})
	seen := map[string]bool{}
	var out []string
	for _, w := range words {
		if len(w) > maxSearchTermLen || seen[w] {
			continue
		}
		seen[w] = true
		out = append(out, w)
		if len(out) == maxSearchTerms {
			break
		}
	}
	return out
}

func tagsText(tags []string) string { return strings.Join(tags, " ") }

// Package ids makes opaque random identifiers.
package ids

import (
	"crypto/rand"
	"encoding/hex"
)

// New returns prefix + "_" + 24 hex characters (96 random bits): opaque,
// unguessable and short enough to type. Prefixes say what the id names:
// mesh, mem, pre (presence), msg, inv.
func New(prefix string) string {
	var b [12]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("ids: crypto/rand failed: " + err.Error())
	}
	return prefix + "_" + hex.EncodeToString(b[:])
}

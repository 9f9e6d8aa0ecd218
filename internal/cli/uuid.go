package cli

import (
	"crypto/rand"
	"encoding/hex"
)

// newUUIDv4 is a random RFC 9562 version 4 UUID in its canonical
// 8-4-4-4-12 form: what Claude Code accepts as --session-id.
func newUUIDv4() string {
	var b [16]byte
	_, _ = rand.Read(b[:])  // crypto/rand.Read never fails (it aborts the program instead)
	b[6] = b[6]&0x0f | 0x40 // version 4
	b[8] = b[8]&0x3f | 0x80 // variant 10
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

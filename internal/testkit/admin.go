package testkit

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"time"

	"github.com/claudemesh/claudemesh/internal/protocol"
)

// AdminAuth is the `Authorization: Claudemesh-Sig ...` header of a signed
// admin request (invites.md §2): the signature covers method, path with
// query, timestamp and the body's sha256.
func AdminAuth(signer Identity, method, path string, body []byte, at time.Time) string {
	ts := at.UnixMilli()
	sum := sha256.Sum256(body)
	canonical := method + "\n" + path + "\n" + strconv.FormatInt(ts, 10) + "\n" + hex.EncodeToString(sum[:])
	return fmt.Sprintf("Claudemesh-Sig pubkey=%s,ts=%d,sig=%s", signer.Hex(), ts, protocol.SignHex(signer.Priv, canonical))
}

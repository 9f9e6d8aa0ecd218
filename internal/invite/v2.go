package invite

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"

	"github.com/claudemesh/claudemesh/internal/protocol"
)

// FingerprintLen is the length in hex chars of an owner fingerprint.
const FingerprintLen = 20

// V2Canonical is the capability string the owner signs when minting a v2
// invite: v=2|mesh_id|invite_id|expires_at|role|owner_pubkey, expires_at in
// unix seconds.
func V2Canonical(meshID, inviteID string, expiresAtUnix int64, role, ownerPubkey string) string {
	return strings.Join([]string{
		"v=2", meshID, inviteID, strconv.FormatInt(expiresAtUnix, 10), role, ownerPubkey,
	}, "|")
}

// OwnerFingerprint is the first 20 hex chars of sha256 over the raw 32
// owner key bytes: the #fp fragment of a v2 link, which the joining CLI
// compares with the owner key the broker returns.
func OwnerFingerprint(ownerPubkeyHex string) (string, error) {
	pub, err := protocol.ParsePublicKeyHex(ownerPubkeyHex)
	if err != nil {
		return "", fmt.Errorf("owner fingerprint: %w", err)
	}
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:])[:FingerprintLen], nil
}

package brokerapi

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"net/http"
	"time"

	"github.com/claudemesh/claudemesh/internal/protocol"
)

// HookResult is the broker's answer to an accepted hook: how it found the
// session ("session" by session_id, "cwd", or "pending" when no live
// session matched yet and the status waits for one).
type HookResult struct {
	OK      bool   `json:"ok"`
	Matched string `json:"matched"`
}

// HookSetStatus is POST /hook/set-status. The request carries its own
// signature (protocol.HookCanonical by the member key), so the client's
// Signer is not used. A refusal is an *Error with the broker's code
// (bad_signature, timestamp_skew, unauthorized, replayed, rate_limited...).
func (c *Client) HookSetStatus(ctx context.Context, req protocol.HookRequest) (HookResult, error) {
	var out HookResult
	return out, c.do(ctx, http.MethodPost, "/hook/set-status", req, false, &out)
}

// SignedHook builds a hook request signed by the member key over
// protocol.HookCanonical, timestamped at.
func SignedHook(meshID, memberID string, member ed25519.PrivateKey, sessionID, cwd, status string, at time.Time) protocol.HookRequest {
	ms := at.UnixMilli()
	return protocol.HookRequest{
		SessionID: sessionID, CWD: cwd, Status: status, MeshID: meshID, MemberID: memberID,
		Pubkey: hex.EncodeToString(member.Public().(ed25519.PublicKey)), Timestamp: ms,
		Signature: protocol.SignHex(member, protocol.HookCanonical(meshID, memberID, sessionID, status, ms)),
	}
}

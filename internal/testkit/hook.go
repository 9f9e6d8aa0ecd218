package testkit

import (
	"bytes"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/claudemesh/claudemesh/internal/protocol"
)

// Hook builds a POST /hook/set-status body as `claudemesh hook` sends it,
// signed by signer (normally the member's own key).
func Hook(signer Identity, meshID, memberID, sessionID, cwd, status string, at time.Time) map[string]any {
	ms := at.UnixMilli()
	return map[string]any{
		"session_id": sessionID, "cwd": cwd, "status": status, "mesh_id": meshID, "member_id": memberID,
		"pubkey": signer.Hex(), "timestamp": ms,
		"signature": protocol.SignHex(signer.Priv, protocol.HookCanonical(meshID, memberID, sessionID, status, ms)),
	}
}

// PostHook posts body to baseURL/hook/set-status and returns the HTTP
// status and the decoded JSON answer.
func PostHook(t testing.TB, baseURL string, body map[string]any) (int, map[string]any) {
	t.Helper()
	return PostHookWith(t, &http.Client{Timeout: 5 * time.Second}, baseURL, body)
}

// PostHookWith is PostHook through client (e.g. FromAddr's).
func PostHookWith(t testing.TB, client *http.Client, baseURL string, body map[string]any) (int, map[string]any) {
	t.Helper()
	data, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := client.Post(baseURL+"/hook/set-status", "application/json", bytes.NewReader(data))
	if err != nil {
		t.Fatalf("post hook: %v", err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("hook answer is not JSON (HTTP %d): %v", resp.StatusCode, err)
	}
	return resp.StatusCode, out
}

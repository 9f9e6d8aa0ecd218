package protocol

import (
	"encoding/json"
	"testing"
)

// TestPlainStringMatchesTheDecoder: the fast path either declines or
// returns exactly what json.Unmarshal returns.
func TestPlainStringMatchesTheDecoder(t *testing.T) {
	for _, raw := range []string{`"bob"`, `""`, `"  "`, `"a\"b"`, `"\u00e9"`, `"é"`, "\"\xff\xfe\"", `"@all"`,
		`["a"]`, `123`, `"x`, `null`} {
		got, ok := plainString([]byte(raw))
		if !ok {
			continue
		}
		var want string
		if err := json.Unmarshal([]byte(raw), &want); err != nil || got != want {
			t.Errorf("%s: fast path %q, decoder %q (%v)", raw, got, want, err)
		}
	}
}

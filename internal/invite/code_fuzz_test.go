package invite

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
)

// FuzzInviteCode checks code generation and the code shape test.
// newCode over any byte stream either runs out of bytes or returns exactly
// the code an independent reading of the rule gives: bytes >= 248 skipped,
// the rest taken mod 62, read in 16-byte blocks; and IsCode accepts exactly
// 8 characters of [0-9A-Za-z].
func FuzzInviteCode(f *testing.F) {
	f.Fuzz(func(t *testing.T, random []byte, s string) {
		code, err := newCode(bytes.NewReader(random))
		want, enough := expectedCode(random)
		switch {
		case !enough && err == nil:
			t.Fatalf("newCode made %q from %d bytes, which do not hold 8 unbiased characters", code, len(random))
		case enough && err != nil:
			t.Fatalf("newCode failed with enough bytes: %v", err)
		case enough && code != want:
			t.Fatalf("newCode = %q, want %q", code, want)
		case enough && !IsCode(code):
			t.Fatalf("newCode made %q, which IsCode refuses", code)
		}
		isCode := len(s) == CodeLen && strings.Trim(s, base62) == ""
		if IsCode(s) != isCode {
			t.Fatalf("IsCode(%q) = %v, want %v", s, IsCode(s), isCode)
		}
	})
}

func expectedCode(random []byte) (string, bool) {
	var out []byte
	for len(random) >= 16 && len(out) < CodeLen {
		for _, b := range random[:16] {
			if b < 248 && len(out) < CodeLen {
				out = append(out, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"[b%62])
			}
		}
		random = random[16:]
	}
	return string(out), len(out) == CodeLen
}

// FuzzOwnerFingerprint checks the #fp fragment of a v2 link: defined for
// exactly the 64-lowercase-hex keys, and then the first 20 hex characters
// of sha256 over the raw key bytes.
func FuzzOwnerFingerprint(f *testing.F) {
	f.Fuzz(func(t *testing.T, key string) {
		fp, err := OwnerFingerprint(key)
		valid := len(key) == 64 && strings.Trim(key, "0123456789abcdef") == ""
		if (err == nil) != valid {
			t.Fatalf("OwnerFingerprint(%q) error %v, want valid=%v", key, err, valid)
		}
		if err != nil {
			if strings.Contains(err.Error(), key) && len(key) > 8 {
				t.Fatalf("the error echoes the key: %v", err)
			}
			return
		}
		raw, _ := hex.DecodeString(key)
		sum := sha256.Sum256(raw)
		if want := hex.EncodeToString(sum[:])[:FingerprintLen]; fp != want {
			t.Fatalf("fingerprint %q, want %q", fp, want)
		}
	})
}

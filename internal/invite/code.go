package invite

import (
	"crypto/rand"
	"fmt"
	"io"
)

// CodeLen is the length of a v2 (and short v1) invite code.
const CodeLen = 8

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// codeCutoff is the largest multiple of 62 that fits a byte: bytes at or
// above it are rejected, so every character is equally likely.
const codeCutoff = 256 - 256%len(base62) // 248

// NewCode returns CodeLen base62 characters from crypto/rand with
// rejection sampling (no modulo bias).
func NewCode() (string, error) { return newCode(rand.Reader) }

func newCode(r io.Reader) (string, error) {
	out := make([]byte, 0, CodeLen)
	buf := make([]byte, 16)
	for len(out) < CodeLen {
		if _, err := io.ReadFull(r, buf); err != nil {
			return "", fmt.Errorf("invite code: %w", err)
		}
		for _, b := range buf {
			if int(b) < codeCutoff && len(out) < CodeLen {
				out = append(out, base62[int(b)%len(base62)])
			}
		}
	}
	return string(out), nil
}

// IsCode reports whether s has the shape of an invite code.
func IsCode(s string) bool {
	if len(s) != CodeLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z') {
			return false
		}
	}
	return true
}

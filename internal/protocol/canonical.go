package protocol

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"filippo.io/edwards25519"
)

// Canonical strings are the exact UTF-8 bytes that get signed. They are fixed
// by existing TypeScript clients, so the separators and field order must
// never change. Timestamps are decimal integers (milliseconds unless noted).

// HelloCanonical is signed by the member key in a hello frame.
func HelloCanonical(meshID, memberID, pubkeyHex string, timestampMs int64) string {
	return pipeJoin(meshID, memberID, pubkeyHex, decimalMs(timestampMs))
}

// SessionCanonical is signed by the session key to prove it in a hello.
func SessionCanonical(meshID, memberID, pubkeyHex, sessionPubkeyHex string, timestampMs int64) string {
	return pipeJoin("claudemesh-session", meshID, memberID, pubkeyHex, sessionPubkeyHex, decimalMs(timestampMs))
}

// HookCanonical is signed by the member key on a Claude Code hook status call.
func HookCanonical(meshID, memberID, sessionID, status string, timestampMs int64) string {
	return pipeJoin("claudemesh-hook", meshID, memberID, sessionID, status, decimalMs(timestampMs))
}

// CreateMeshCanonical is signed by the owner key on POST /meshes.
func CreateMeshCanonical(name, ownerPubkey, peerPubkey string, timestampMs int64) string {
	return pipeJoin("claudemesh-create-mesh", name, ownerPubkey, peerPubkey, decimalMs(timestampMs))
}

// ClaimCanonical is signed by the new member key on a v2 invite claim.
func ClaimCanonical(code, recipientX25519B64url, peerPubkey string, timestampMs int64) string {
	return pipeJoin("claudemesh-claim", code, recipientX25519B64url, peerPubkey, decimalMs(timestampMs))
}

func pipeJoin(parts ...string) string { return strings.Join(parts, "|") }

func decimalMs(t int64) string { return strconv.FormatInt(t, 10) }

// SignHex signs the UTF-8 bytes of msg and returns 128 lowercase hex chars.
// Like ed25519.Sign it panics if priv is not ed25519.PrivateKeySize bytes:
// that is a programming error, not an input error.
func SignHex(priv ed25519.PrivateKey, msg string) string {
	return hex.EncodeToString(ed25519.Sign(priv, []byte(msg)))
}

// VerifyHex reports whether sigHex is a valid signature of msg by pubkeyHex.
// Any malformed input yields false. Small-order public keys are refused, as
// libsodium does: anyone can forge signatures for them, so accepting one
// would let a member register an identity that others can impersonate.
func VerifyHex(pubkeyHex, msg, sigHex string) bool {
	pub, err := ParsePublicKeyHex(pubkeyHex)
	if err != nil || !IsHexSig(sigHex) {
		return false
	}
	sig, err := hex.DecodeString(sigHex)
	if err != nil {
		return false
	}
	if hasSmallOrder(pub) {
		return false
	}
	return ed25519.Verify(pub, []byte(msg), sig)
}

// IsHexKey reports whether s is exactly 64 lowercase hex chars (a 32-byte key).
func IsHexKey(s string) bool { return isLowerHex(s, 2*ed25519.PublicKeySize) }

// IsHexSig reports whether s is exactly 128 lowercase hex chars (a signature).
func IsHexSig(s string) bool { return isLowerHex(s, 2*ed25519.SignatureSize) }

// isLowerHex accepts only lowercase so that every key has exactly one
// spelling: keys are compared as strings for routing and membership.
func isLowerHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// hexShapeError says what is wrong without echoing the input, which may be
// a secret key.
func hexShapeError(what, s string, n int) error {
	if len(s) != n {
		return fmt.Errorf("%s must be %d lowercase hex characters, got %d characters", what, n, len(s))
	}
	return fmt.Errorf("%s must be lowercase hex (0-9, a-f)", what)
}

// ParsePublicKeyHex decodes a 64-char lowercase hex ed25519 public key.
// It checks the encoding only, not that the bytes are a curve point.
func ParsePublicKeyHex(s string) (ed25519.PublicKey, error) {
	if !IsHexKey(s) {
		return nil, hexShapeError("public key", s, 2*ed25519.PublicKeySize)
	}
	b, err := hex.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("public key: %w", err)
	}
	return ed25519.PublicKey(b), nil
}

// ParseSecretKeyHex decodes a 128-char lowercase hex secret key in the
// libsodium layout seed||pubkey and checks that the pubkey half really
// belongs to the seed, so a corrupted key file fails loudly here rather than
// producing signatures nobody can verify.
func ParseSecretKeyHex(s string) (ed25519.PrivateKey, error) {
	if !isLowerHex(s, 2*ed25519.PrivateKeySize) {
		return nil, hexShapeError("secret key", s, 2*ed25519.PrivateKeySize)
	}
	b, err := hex.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("secret key: %w", err)
	}
	priv := ed25519.NewKeyFromSeed(b[:ed25519.SeedSize])
	if !bytes.Equal(priv[ed25519.SeedSize:], b[ed25519.SeedSize:]) {
		return nil, errors.New("secret key: public half does not match the seed")
	}
	return priv, nil
}

// hasSmallOrder reports whether pub decodes to a point of order 1, 2, 4 or 8,
// or does not decode at all.
func hasSmallOrder(pub []byte) bool {
	p, err := new(edwards25519.Point).SetBytes(pub)
	if err != nil {
		return true
	}
	return new(edwards25519.Point).MultByCofactor(p).Equal(edwards25519.NewIdentityPoint()) == 1
}

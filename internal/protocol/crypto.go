package protocol

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strings"

	"filippo.io/edwards25519"
	"golang.org/x/crypto/curve25519"
	"golang.org/x/crypto/hkdf"
	"golang.org/x/crypto/nacl/box"
	"golang.org/x/crypto/nacl/secretbox"
)

// Client-side envelope of protocol.md §8. The broker only carries these
// bytes; the CLI seals and opens them. Every construction here is
// byte-compatible with the libsodium calls named in the comments.

// ErrDecrypt is wrapped by every Open* failure that is about the ciphertext
// itself (wrong key, tampering, truncation). Callers show it as an explicit
// error and never fall back to guessing the plaintext.
var ErrDecrypt = errors.New("decryption failed: wrong key or the message was tampered with")

// ErrEncoding is wrapped by every error about a malformed encoded field
// (bad base64, wrong length), which is a different problem from ErrDecrypt.
var ErrEncoding = errors.New("invalid encoding")

const (
	// NonceSize is the nonce length of box and secretbox (XSalsa20).
	NonceSize = 24
	// RootKeySize is the length of a mesh root key.
	RootKeySize = 32

	meshKeyInfoPrefix = "claudemesh/v2/mesh-message-key|"
)

// X25519PublicFromEd25519 converts an ed25519 public key to its X25519 form
// (libsodium crypto_sign_ed25519_pk_to_curve25519). Like libsodium it
// rejects keys that are not a canonical point of the prime-order subgroup:
// encrypting to such a key would leak or be unreadable.
func X25519PublicFromEd25519(pub ed25519.PublicKey) (*[32]byte, error) {
	if len(pub) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("ed25519 public key must be %d bytes, got %d", ed25519.PublicKeySize, len(pub))
	}
	p, err := new(edwards25519.Point).SetBytes(pub)
	if err != nil {
		return nil, errors.New("ed25519 public key is not a valid curve point")
	}
	if !bytes.Equal(p.Bytes(), pub) {
		return nil, errors.New("ed25519 public key is not canonically encoded")
	}
	if !inPrimeOrderSubgroup(p) || p.Equal(edwards25519.NewIdentityPoint()) == 1 {
		return nil, errors.New("ed25519 public key has a small-order component")
	}
	var out [32]byte
	copy(out[:], p.BytesMontgomery())
	return &out, nil
}

// lMinusOne is the scalar -1 mod l, whose canonical integer value is l-1.
var lMinusOne = func() *edwards25519.Scalar {
	one, err := edwards25519.NewScalar().SetCanonicalBytes(append([]byte{1}, make([]byte, 31)...))
	if err != nil {
		panic(err)
	}
	return edwards25519.NewScalar().Negate(one)
}()

// inPrimeOrderSubgroup reports whether [l]P is the identity, computed as
// [l-1]P + P because a Scalar cannot hold l itself.
func inPrimeOrderSubgroup(p *edwards25519.Point) bool {
	q := new(edwards25519.Point).ScalarMult(lMinusOne, p)
	q.Add(q, p)
	return q.Equal(edwards25519.NewIdentityPoint()) == 1
}

// X25519SecretFromEd25519 converts an ed25519 secret key to its X25519 form
// (libsodium crypto_sign_ed25519_sk_to_curve25519): the clamped first half
// of SHA-512(seed). It panics if priv is not ed25519.PrivateKeySize bytes.
func X25519SecretFromEd25519(priv ed25519.PrivateKey) *[32]byte {
	h := sha512.Sum512(priv.Seed())
	var out [32]byte
	copy(out[:], h[:32])
	out[0] &= 248
	out[31] &= 127
	out[31] |= 64
	return &out
}

// SealBox encrypts a DM with crypto_box_easy under a fresh random nonce.
// Both outputs are standard base64 with padding, as on the wire.
func SealBox(plaintext []byte, recipient ed25519.PublicKey, sender ed25519.PrivateKey) (nonceB64, ciphertextB64 string, err error) {
	nonce, err := freshNonce()
	if err != nil {
		return "", "", err
	}
	return SealBoxWithNonce(plaintext, recipient, sender, nonce)
}

// SealBoxWithNonce is SealBox with a caller-chosen nonce. Reusing a nonce
// for the same key pair breaks confidentiality: use it for test vectors only.
func SealBoxWithNonce(plaintext []byte, recipient ed25519.PublicKey, sender ed25519.PrivateKey, nonce *[NonceSize]byte) (nonceB64, ciphertextB64 string, err error) {
	if len(sender) != ed25519.PrivateKeySize {
		return "", "", fmt.Errorf("sender secret key must be %d bytes, got %d", ed25519.PrivateKeySize, len(sender))
	}
	peer, err := X25519PublicFromEd25519(recipient)
	if err != nil {
		return "", "", fmt.Errorf("recipient key: %w", err)
	}
	ct := box.Seal(nil, plaintext, nonce, peer, X25519SecretFromEd25519(sender))
	return strictStdB64.EncodeToString(nonce[:]), strictStdB64.EncodeToString(ct), nil
}

// OpenBox decrypts a DM sealed by sender for recipient.
func OpenBox(nonceB64, ciphertextB64 string, sender ed25519.PublicKey, recipient ed25519.PrivateKey) ([]byte, error) {
	if len(recipient) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("recipient secret key must be %d bytes, got %d", ed25519.PrivateKeySize, len(recipient))
	}
	nonce, ct, err := decodeEnvelope(nonceB64, ciphertextB64, box.Overhead)
	if err != nil {
		return nil, err
	}
	peer, err := X25519PublicFromEd25519(sender)
	if err != nil {
		return nil, fmt.Errorf("sender key: %w", err)
	}
	pt, ok := box.Open(nil, ct, nonce, peer, X25519SecretFromEd25519(recipient))
	if !ok {
		return nil, ErrDecrypt
	}
	return pt, nil
}

// MeshMessageKey derives the group key K = HKDF-SHA256(ikm=rootKey,
// salt=empty, info="claudemesh/v2/mesh-message-key|"+meshID), 32 bytes.
// Binding meshID keeps keys distinct even if a root key were reused.
func MeshMessageKey(rootKey []byte, meshID string) (*[32]byte, error) {
	if len(rootKey) != RootKeySize {
		return nil, fmt.Errorf("mesh root key must be %d bytes, got %d", RootKeySize, len(rootKey))
	}
	var k [32]byte
	r := hkdf.New(sha256.New, rootKey, nil, []byte(meshKeyInfoPrefix+meshID))
	if _, err := io.ReadFull(r, k[:]); err != nil {
		return nil, fmt.Errorf("derive mesh message key: %w", err)
	}
	return &k, nil
}

// SealSecretbox encrypts a group message with crypto_secretbox_easy under a
// fresh random nonce; outputs are standard base64 with padding.
func SealSecretbox(plaintext []byte, key *[32]byte) (nonceB64, ciphertextB64 string, err error) {
	nonce, err := freshNonce()
	if err != nil {
		return "", "", err
	}
	return SealSecretboxWithNonce(plaintext, key, nonce)
}

// SealSecretboxWithNonce is SealSecretbox with a caller-chosen nonce (test
// vectors only: nonce reuse under one key is fatal).
func SealSecretboxWithNonce(plaintext []byte, key *[32]byte, nonce *[NonceSize]byte) (nonceB64, ciphertextB64 string, err error) {
	if key == nil {
		return "", "", errors.New("secretbox key is nil")
	}
	ct := secretbox.Seal(nil, plaintext, nonce, key)
	return strictStdB64.EncodeToString(nonce[:]), strictStdB64.EncodeToString(ct), nil
}

// OpenSecretbox decrypts a group message.
func OpenSecretbox(nonceB64, ciphertextB64 string, key *[32]byte) ([]byte, error) {
	if key == nil {
		return nil, errors.New("secretbox key is nil")
	}
	nonce, ct, err := decodeEnvelope(nonceB64, ciphertextB64, secretbox.Overhead)
	if err != nil {
		return nil, err
	}
	pt, ok := secretbox.Open(nil, ct, nonce, key)
	if !ok {
		return nil, ErrDecrypt
	}
	return pt, nil
}

// EncodePlain is the "plain" enc: standard base64 of the text bytes.
func EncodePlain(text []byte) string { return strictStdB64.EncodeToString(text) }

// DecodePlain reverses EncodePlain.
func DecodePlain(s string) ([]byte, error) { return decodeStdB64Field("plain text", s) }

// SealRootKey seals a mesh root key to an X25519 public key with
// crypto_box_seal; the result is base64url without padding.
func SealRootKey(rootKey []byte, recipientX25519 *[32]byte) (string, error) {
	if len(rootKey) != RootKeySize {
		return "", fmt.Errorf("mesh root key must be %d bytes, got %d", RootKeySize, len(rootKey))
	}
	if recipientX25519 == nil {
		return "", errors.New("recipient x25519 key is nil")
	}
	if isLowOrderX25519(recipientX25519) {
		// libsodium refuses these too: the shared secret would be all zeros,
		// so the root key would be readable by anyone.
		return "", errors.New("recipient x25519 key is a low-order point")
	}
	sealed, err := box.SealAnonymous(nil, rootKey, recipientX25519, rand.Reader)
	if err != nil {
		return "", fmt.Errorf("seal root key: %w", err)
	}
	return EncodeB64URL(sealed), nil
}

// OpenRootKey opens a sealed root key with the recipient's X25519 key pair
// and insists on exactly 32 bytes: anything else is not a root key, however
// it authenticated.
func OpenRootKey(sealedB64url string, pub, priv *[32]byte) ([]byte, error) {
	if pub == nil || priv == nil {
		return nil, errors.New("x25519 key pair is nil")
	}
	sealed, err := DecodeB64URL(sealedB64url)
	if err != nil {
		return nil, fmt.Errorf("sealed_root_key: %w", err)
	}
	key, ok := box.OpenAnonymous(nil, sealed, pub, priv)
	if !ok {
		return nil, fmt.Errorf("sealed_root_key: %w", ErrDecrypt)
	}
	if len(key) != RootKeySize {
		return nil, fmt.Errorf("sealed_root_key: opened key is %d bytes, want %d: %w", len(key), RootKeySize, ErrDecrypt)
	}
	return key, nil
}

// isLowOrderX25519 reports whether multiplying pub by a clamped scalar
// (a multiple of the cofactor) gives zero, i.e. pub has no prime-order part.
func isLowOrderX25519(pub *[32]byte) bool {
	scalar := [32]byte{31: 64} // any clamped non-zero scalar works
	_, err := curve25519.X25519(scalar[:], pub[:])
	return err != nil
}

// GenerateX25519 returns a fresh X25519 key pair (for a v2 invite claim).
func GenerateX25519() (pub, priv *[32]byte, err error) {
	pub, priv, err = box.GenerateKey(rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generate x25519 key: %w", err)
	}
	return pub, priv, nil
}

// Strict encodings reject non-zero trailing bits, so every byte string has
// exactly one accepted spelling.
var (
	strictStdB64 = base64.StdEncoding.Strict()
	strictURLB64 = base64.RawURLEncoding.Strict()
)

// EncodeB64URL encodes b as base64url without padding.
func EncodeB64URL(b []byte) string { return strictURLB64.EncodeToString(b) }

// DecodeB64URL decodes base64url without padding. Padded input and the
// standard alphabet are refused with an error that says so, because a silent
// fix-up would hide a client bug and give one value two spellings.
func DecodeB64URL(s string) ([]byte, error) {
	switch {
	case strings.Contains(s, "="):
		return nil, fmt.Errorf("%w: base64url must not be padded with '='", ErrEncoding)
	case strings.ContainsAny(s, "+/"):
		return nil, fmt.Errorf("%w: expected base64url ('-' and '_'), got standard base64 ('+' or '/')", ErrEncoding)
	case strings.ContainsAny(s, "\r\n"):
		// The Go decoder would skip these silently.
		return nil, fmt.Errorf("%w: base64url contains a line break", ErrEncoding)
	}
	b, err := strictURLB64.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("%w: invalid base64url: %v", ErrEncoding, err)
	}
	return b, nil
}

func decodeStdB64Field(field, s string) ([]byte, error) {
	if strings.ContainsAny(s, "\r\n") {
		return nil, fmt.Errorf("%s: %w: base64 contains a line break", field, ErrEncoding)
	}
	b, err := strictStdB64.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("%s: %w: invalid base64: %v", field, ErrEncoding, err)
	}
	return b, nil
}

// decodeEnvelope decodes and length-checks a wire nonce and ciphertext.
func decodeEnvelope(nonceB64, ciphertextB64 string, overhead int) (*[NonceSize]byte, []byte, error) {
	n, err := decodeStdB64Field("nonce", nonceB64)
	if err != nil {
		return nil, nil, err
	}
	if len(n) != NonceSize {
		return nil, nil, fmt.Errorf("nonce: %w: must be %d bytes, got %d", ErrEncoding, NonceSize, len(n))
	}
	ct, err := decodeStdB64Field("ciphertext", ciphertextB64)
	if err != nil {
		return nil, nil, err
	}
	if len(ct) < overhead {
		return nil, nil, fmt.Errorf("ciphertext is %d bytes, shorter than the %d-byte authenticator: %w", len(ct), overhead, ErrDecrypt)
	}
	var nonce [NonceSize]byte
	copy(nonce[:], n)
	return &nonce, ct, nil
}

func freshNonce() (*[NonceSize]byte, error) {
	var n [NonceSize]byte
	if _, err := rand.Read(n[:]); err != nil {
		return nil, fmt.Errorf("generate nonce: %w", err)
	}
	return &n, nil
}

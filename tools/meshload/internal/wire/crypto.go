package wire

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"

	"golang.org/x/crypto/nacl/box"
	"golang.org/x/crypto/nacl/secretbox"

	"github.com/claudemesh/claudemesh/internal/protocol"
)

// BoxKeys are a member's X25519 forms (libsodium's ed25519 -> curve25519
// conversions), the keys crypto_box uses for DMs.
type BoxKeys struct {
	Sec [32]byte
	Pub [32]byte
}

// NewBoxKeys converts an ed25519 identity for crypto_box.
func NewBoxKeys(key ed25519.PrivateKey) (BoxKeys, error) {
	pub, err := protocol.X25519PublicFromEd25519(key.Public().(ed25519.PublicKey))
	if err != nil {
		return BoxKeys{}, err
	}
	return BoxKeys{Sec: *protocol.X25519SecretFromEd25519(key), Pub: *pub}, nil
}

// SharedKey is crypto_box_beforenm(theirPub, mySec). It is symmetric in
// the pair, so one computation serves both directions; box with it is
// byte-identical to crypto_box_easy, only without repeating the scalar
// multiplication for every message.
func SharedKey(mySec, theirPub *[32]byte) *[32]byte {
	var k [32]byte
	box.Precompute(&k, theirPub, mySec)
	return &k
}

// SealBox encrypts a DM under a shared key with a fresh random nonce;
// outputs are standard base64 with padding, as on the wire.
func SealBox(plaintext []byte, shared *[32]byte) (nonceB64, ciphertextB64 string, err error) {
	var nonce [24]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return "", "", err
	}
	ct := box.SealAfterPrecomputation(nil, plaintext, &nonce, shared)
	return base64.StdEncoding.EncodeToString(nonce[:]), base64.StdEncoding.EncodeToString(ct), nil
}

// ErrDecrypt means a push did not authenticate under the expected key.
var ErrDecrypt = errors.New("push does not decrypt under the expected key")

// OpenBox decrypts a DM under a shared key.
func OpenBox(nonceB64, ciphertextB64 string, shared *[32]byte) ([]byte, error) {
	nonce, ct, err := decode(nonceB64, ciphertextB64)
	if err != nil {
		return nil, err
	}
	pt, ok := box.OpenAfterPrecomputation(nil, ct, nonce, shared)
	if !ok {
		return nil, ErrDecrypt
	}
	return pt, nil
}

// OpenSecretbox decrypts a broadcast under the mesh message key.
func OpenSecretbox(nonceB64, ciphertextB64 string, key *[32]byte) ([]byte, error) {
	nonce, ct, err := decode(nonceB64, ciphertextB64)
	if err != nil {
		return nil, err
	}
	pt, ok := secretbox.Open(nil, ct, nonce, key)
	if !ok {
		return nil, ErrDecrypt
	}
	return pt, nil
}

func decode(nonceB64, ciphertextB64 string) (*[24]byte, []byte, error) {
	n, err := base64.StdEncoding.DecodeString(nonceB64)
	if err != nil || len(n) != 24 {
		return nil, nil, fmt.Errorf("%w: bad nonce", ErrDecrypt)
	}
	ct, err := base64.StdEncoding.DecodeString(ciphertextB64)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: bad ciphertext encoding", ErrDecrypt)
	}
	var nonce [24]byte
	copy(nonce[:], n)
	return &nonce, ct, nil
}

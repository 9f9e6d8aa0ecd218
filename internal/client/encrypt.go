package client

import (
	"crypto/ed25519"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/claudemesh/claudemesh/internal/protocol"
)

// Envelope is the encrypted body of a send, as the broker carries it.
type Envelope struct {
	Enc        string // box|secretbox|plain
	Nonce      string // standard base64
	Ciphertext string
}

// SealDirect encrypts a DM with box to a routing address (session or member
// pubkey hex), from this session's key when it has one (protocol.md §8).
func (c *Client) SealDirect(plaintext []byte, recipientHex string) (Envelope, error) {
	pub, err := protocol.ParsePublicKeyHex(recipientHex)
	if err != nil {
		return Envelope{}, fmt.Errorf("recipient key: %w", err)
	}
	n, ct, err := protocol.SealBox(plaintext, pub, c.routingKey())
	if err != nil {
		return Envelope{}, fmt.Errorf("sealing a DM: %w", err)
	}
	return Envelope{Enc: protocol.EncBox, Nonce: n, Ciphertext: ct}, nil
}

// MeshKey derives the group/broadcast key from the mesh root key.
func MeshKey(rootKey []byte, meshID string) (*[32]byte, error) {
	return protocol.MeshMessageKey(rootKey, meshID)
}

// SealGroup encrypts a group or broadcast message with secretbox.
func SealGroup(plaintext []byte, meshKey *[32]byte) (Envelope, error) {
	n, ct, err := protocol.SealSecretbox(plaintext, meshKey)
	if err != nil {
		return Envelope{}, fmt.Errorf("sealing a group message: %w", err)
	}
	return Envelope{Enc: protocol.EncSecretbox, Nonce: n, Ciphertext: ct}, nil
}

// SealPlain is for old clients without secretbox only; callers must say so.
func SealPlain(text []byte) Envelope {
	return Envelope{Enc: protocol.EncPlain, Ciphertext: protocol.EncodePlain(text)}
}

// Open decrypts a message push. box is tried with this session's key and
// then the member key, because a sender may have addressed either; both are
// authenticated, so a wrong key fails instead of yielding garbage. Every
// failure wraps protocol.ErrDecrypt or protocol.ErrEncoding and names the
// message. meshKey may be nil when the caller has no root key.
func (c *Client) Open(p *protocol.Push, meshKey *[32]byte) ([]byte, error) {
	fail := func(err error) ([]byte, error) {
		return nil, fmt.Errorf("cannot decrypt message %s from %s (%s): %w", p.MessageID, p.SenderName, p.Enc, err)
	}
	switch p.Enc {
	case protocol.EncBox:
		sender, err := protocol.ParsePublicKeyHex(p.SenderPubkey)
		if err != nil {
			return fail(fmt.Errorf("%w: sender key: %v", protocol.ErrEncoding, err))
		}
		var last error
		for _, k := range []ed25519.PrivateKey{c.cfg.SessionKey, c.cfg.MemberKey} {
			if k == nil {
				continue
			}
			pt, err := protocol.OpenBox(p.Nonce, p.Ciphertext, sender, k)
			if err == nil {
				return pt, nil
			}
			last = err
		}
		return fail(last)
	case protocol.EncSecretbox:
		if meshKey == nil {
			return fail(fmt.Errorf("%w: no mesh key (root key) for this mesh", protocol.ErrDecrypt))
		}
		pt, err := protocol.OpenSecretbox(p.Nonce, p.Ciphertext, meshKey)
		if err != nil {
			return fail(err)
		}
		return pt, nil
	case protocol.EncPlain:
		pt, err := protocol.DecodePlain(p.Ciphertext)
		if err != nil {
			return fail(err)
		}
		return pt, nil
	default:
		return fail(fmt.Errorf("%w: unknown encoding %q", protocol.ErrDecrypt, p.Enc))
	}
}

func hexPub(k ed25519.PrivateKey) string { return hex.EncodeToString(k.Public().(ed25519.PublicKey)) }

func nowMs() int64 { return time.Now().UnixMilli() }

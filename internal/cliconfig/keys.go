package cliconfig

import (
	"crypto/ed25519"
	"encoding/hex"
	"fmt"

	"github.com/claudemesh/claudemesh/internal/protocol"
)

// Keys is a joined mesh's decoded secrets.
type Keys struct {
	Member  ed25519.PrivateKey
	Owner   ed25519.PrivateKey // nil unless this machine created the mesh
	RootKey []byte             // nil when the config holds none
}

// Keys decodes and checks the mesh's keys, naming the broken field.
func (m *Mesh) Keys() (Keys, error) {
	var k Keys
	var err error
	if k.Member, err = protocol.ParseSecretKeyHex(m.SecretKey); err != nil {
		return k, fmt.Errorf("mesh %s: secretKey in the config: %w", m.Slug, err)
	}
	if hex.EncodeToString(k.Member.Public().(ed25519.PublicKey)) != m.Pubkey {
		return k, fmt.Errorf("mesh %s: secretKey in the config does not match pubkey %.12s", m.Slug, m.Pubkey)
	}
	if m.OwnerSecretKey != "" {
		if k.Owner, err = protocol.ParseSecretKeyHex(m.OwnerSecretKey); err != nil {
			return k, fmt.Errorf("mesh %s: ownerSecretKey in the config: %w", m.Slug, err)
		}
	}
	if m.RootKey != "" {
		if k.RootKey, err = protocol.DecodeB64URL(m.RootKey); err != nil || len(k.RootKey) != 32 {
			return k, fmt.Errorf("mesh %s: rootKey in the config must be 32 bytes of base64url", m.Slug)
		}
	}
	return k, nil
}

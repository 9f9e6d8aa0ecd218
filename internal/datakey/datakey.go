// Package datakey holds the broker's data key, which encrypts secrets at
// rest (mesh root keys, v1 invite tokens): BROKER_ENCRYPTION_KEY, or a key
// file created with mode 0600 in the data directory on first start.
package datakey

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// FileName is the key file kept in the data directory.
const FileName = "broker.key"

// version prefixes every sealed value so the format can change later.
const version = 1

// Key is a 32-byte AES-256-GCM key. It never appears in logs: it has no
// String method that reveals it.
type Key struct{ aead cipher.AEAD }

// String keeps the key out of logs and error messages.
func (*Key) String() string { return "datakey(redacted)" }

// New builds a key from 32 raw bytes.
func New(raw []byte) (*Key, error) {
	if len(raw) != 32 {
		return nil, fmt.Errorf("data key must be 32 bytes, got %d", len(raw))
	}
	block, err := aes.NewCipher(raw)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Key{aead: aead}, nil
}

// Load returns the key from hexKey when set, else from dataDir/broker.key,
// creating that file (0600) when it does not exist yet.
func Load(hexKey, dataDir string) (*Key, error) {
	if hexKey != "" {
		return parseHex(hexKey, "BROKER_ENCRYPTION_KEY")
	}
	if dataDir == "" {
		return nil, errors.New("no data key: set BROKER_ENCRYPTION_KEY or BROKER_DATA_DIR")
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data key: %w", err)
	}
	path := filepath.Join(dataDir, FileName)
	if err := create(path); err != nil && !errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("data key: creating %s: %w", path, err)
	}
	info, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("data key: %w", err)
	}
	if info.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("data key: %s is readable by other users (mode %o); run chmod 600 on it", path, info.Mode().Perm())
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("data key: %w", err)
	}
	return parseHex(strings.TrimSpace(string(raw)), path)
}

// create writes a fresh key with O_EXCL, so two processes starting at once
// cannot both write one: the loser reads the winner's file.
func create(path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	if _, err := f.WriteString(hex.EncodeToString(raw[:]) + "\n"); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func parseHex(s, source string) (*Key, error) {
	raw, err := hex.DecodeString(s)
	if err != nil || len(raw) != 32 {
		return nil, fmt.Errorf("data key from %s must be 64 hex characters", source)
	}
	return New(raw)
}

// Seal encrypts plaintext bound to context (e.g. the mesh id), so a sealed
// value copied onto another row does not open there.
func (k *Key) Seal(plaintext []byte, context string) ([]byte, error) {
	nonce := make([]byte, k.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	out := append([]byte{version}, nonce...)
	return k.aead.Seal(out, nonce, plaintext, []byte(context)), nil
}

// ErrOpen is returned when a sealed value does not open with this key.
var ErrOpen = errors.New("sealed value does not open with the broker's data key (wrong BROKER_ENCRYPTION_KEY or key file?)")

// Open reverses Seal.
func (k *Key) Open(sealed []byte, context string) ([]byte, error) {
	n := k.aead.NonceSize()
	if len(sealed) < 1+n+k.aead.Overhead() || sealed[0] != version {
		return nil, ErrOpen
	}
	out, err := k.aead.Open(nil, sealed[1:1+n], sealed[1+n:], []byte(context))
	if err != nil {
		return nil, ErrOpen
	}
	return out, nil
}

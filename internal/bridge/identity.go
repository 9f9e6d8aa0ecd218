package bridge

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/claudemesh/claudemesh/internal/cliconfig"
	"github.com/claudemesh/claudemesh/internal/protocol"
)

// maxSlots bounds how many bridges may share one (mesh, cwd) at a time,
// each with its own persisted session.
const maxSlots = 16

// identity is a persisted session: the same sessionId and session key on
// every run, so the broker resumes the session and messages sealed to the
// session key can still be opened after a restart.
type identity struct {
	SessionID string
	Key       ed25519.PrivateKey
	Path      string // the record on disk
	lock      *os.File
}

// sessionRecord is the JSON kept (0600) under <config dir>/sessions/<mesh id>/.
type sessionRecord struct {
	SessionID  string `json:"sessionId"`
	SessionKey string `json:"sessionSecretKey"` // 64-byte ed25519 key, hex
	MeshID     string `json:"meshId"`
	CWD        string `json:"cwd,omitempty"`
	CreatedAt  string `json:"createdAt"`
}

// loadIdentity returns the session to use on meshID. With a session id from
// `launch` (CLAUDEMESH_SESSION_ID) the record is keyed by that id. Without
// one it is keyed by cwd, with a slot per concurrent bridge: each record is
// held under an exclusive flock while its bridge runs, so two Claude Code
// windows in one directory get two sessions instead of superseding each
// other, and a restarted bridge takes its old slot back.
func loadIdentity(configDir, meshID, cwd, sessionID string) (*identity, error) {
	dir := filepath.Join(configDir, "sessions", safeName(meshID))
	if sessionID != "" {
		// The id is the Claude Code session's: a second bridge with it is the
		// same session (an MCP restart), so it may proceed without the lock.
		id, err := openRecord(filepath.Join(dir, "sid-"+digest(sessionID)+".json"), meshID, "", sessionID, false)
		if err == nil {
			pruneLaunchRecords(dir, id.Path, time.Now())
		}
		return id, err
	}
	for slot := 0; slot < maxSlots; slot++ {
		path := filepath.Join(dir, fmt.Sprintf("cwd-%s-%d.json", digest(cwd), slot))
		id, err := openRecord(path, meshID, cwd, "", true)
		if errors.Is(err, errLocked) {
			continue
		}
		return id, err
	}
	return nil, fmt.Errorf("%d bridges already run on mesh %s in %s; close one or set %s", maxSlots, meshID, cwd, "CLAUDEMESH_SESSION_ID")
}

var errLocked = errors.New("session record in use")

// openRecord locks path's lock file and reads the record, creating it (with
// a fresh id unless sessionID is given, and a fresh key) when missing.
func openRecord(path, meshID, cwd, sessionID string, exclusive bool) (*identity, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("creating the session directory: %w", err)
	}
	lock, err := os.OpenFile(path+".lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("locking %s: %w", path, err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		if exclusive {
			lock.Close()
			return nil, errLocked
		}
	}
	id := &identity{Path: path, lock: lock}
	data, err := os.ReadFile(path)
	switch {
	case err == nil:
		var rec sessionRecord
		if err := json.Unmarshal(data, &rec); err != nil || rec.SessionID == "" {
			lock.Close()
			return nil, fmt.Errorf("session record %s is damaged (delete it to start a new session): %v", path, err)
		}
		if id.Key, err = protocol.ParseSecretKeyHex(rec.SessionKey); err != nil {
			lock.Close()
			return nil, fmt.Errorf("session record %s: sessionSecretKey: %w", path, err)
		}
		id.SessionID = rec.SessionID
		return id, nil
	case !os.IsNotExist(err):
		lock.Close()
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		lock.Close()
		return nil, err
	}
	if sessionID == "" {
		var b [16]byte
		_, _ = rand.Read(b[:])
		sessionID = hex.EncodeToString(b[:])
	}
	rec := sessionRecord{SessionID: sessionID, SessionKey: hex.EncodeToString(key), MeshID: meshID, CWD: cwd,
		CreatedAt: time.Now().UTC().Format(time.RFC3339)}
	data, _ = json.MarshalIndent(rec, "", "  ")
	if err := cliconfig.WriteFileAtomic(path, append(data, '\n'), nil); err != nil {
		lock.Close()
		return nil, err
	}
	id.SessionID, id.Key = sessionID, key
	return id, nil
}

// launchRecordTTL is how long an unused per-launch record (one per Claude
// Code session UUID) is kept, so a resumed old session can still read.
const launchRecordTTL = 30 * 24 * time.Hour

// pruneLaunchRecords deletes per-launch records unused for launchRecordTTL
// whose lock nobody holds, and marks the current one used.
func pruneLaunchRecords(dir, current string, now time.Time) {
	_ = os.Chtimes(current, now, now)
	paths, _ := filepath.Glob(filepath.Join(dir, "sid-*.json"))
	for _, p := range paths {
		st, err := os.Stat(p)
		if p == current || err != nil || now.Sub(st.ModTime()) < launchRecordTTL {
			continue
		}
		lock, err := os.OpenFile(p+".lock", os.O_CREATE|os.O_RDWR, 0o600)
		if err != nil {
			continue
		}
		if syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) == nil {
			os.Remove(p)
			os.Remove(p + ".lock")
		}
		lock.Close()
	}
}

// release lets another bridge take this record.
func (id *identity) release() {
	if id.lock != nil {
		id.lock.Close() // closing drops the flock
		id.lock = nil
	}
}

func digest(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:8])
}

// safeName keeps a mesh id usable as a directory name.
func safeName(s string) string {
	if isIDSafe(s) {
		return s
	}
	return digest(s)
}

func isIDSafe(s string) bool {
	if s == "" || len(s) > 128 || s == "." || s == ".." {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

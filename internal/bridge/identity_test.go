package bridge

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestIdentityPersistsPerMeshAndDirectory(t *testing.T) {
	cfg := t.TempDir()
	first, err := loadIdentity(cfg, "mesh_a", "/work/app", "")
	if err != nil {
		t.Fatal(err)
	}
	// A second bridge in the same directory takes the next slot.
	second, err := loadIdentity(cfg, "mesh_a", "/work/app", "")
	if err != nil {
		t.Fatal(err)
	}
	if second.SessionID == first.SessionID || second.Path == first.Path {
		t.Fatalf("two live bridges share session %s", first.SessionID)
	}
	other, err := loadIdentity(cfg, "mesh_a", "/work/other", "")
	if err != nil {
		t.Fatal(err)
	}
	firstID, firstKey := first.SessionID, first.Key
	first.release()
	second.release()
	other.release()

	again, err := loadIdentity(cfg, "mesh_a", "/work/app", "")
	if err != nil {
		t.Fatal(err)
	}
	defer again.release()
	if again.SessionID != firstID || !again.Key.Equal(firstKey) {
		t.Fatalf("restart got session %s, want %s with the same key", again.SessionID, firstID)
	}
	st, err := os.Stat(again.Path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("session record mode %o, want 600 (it holds the session key)", st.Mode().Perm())
	}
	if other.SessionID == firstID {
		t.Error("another directory reused the session")
	}
}

func TestIdentityFromLaunchSessionID(t *testing.T) {
	cfg := t.TempDir()
	const sid = "3d0f5a52-1c7e-4b8e-a1d2-6f0e9c8b7a65"
	a, err := loadIdentity(cfg, "mesh_a", "/x", sid)
	if err != nil {
		t.Fatal(err)
	}
	// The same Claude Code session restarting its MCP server keeps the key,
	// even while the old process still holds the record.
	b, err := loadIdentity(cfg, "mesh_a", "/y", sid)
	if err != nil {
		t.Fatal(err)
	}
	defer a.release()
	defer b.release()
	if a.SessionID != sid || b.SessionID != sid || !a.Key.Equal(b.Key) {
		t.Fatalf("got %s/%s, want %s with one key", a.SessionID, b.SessionID, sid)
	}
	c, err := loadIdentity(cfg, "mesh_b", "/x", sid)
	if err != nil {
		t.Fatal(err)
	}
	defer c.release()
	if c.Key.Equal(a.Key) {
		t.Error("two meshes share a session key")
	}
}

func TestIdentityRefusesADamagedRecord(t *testing.T) {
	cfg := t.TempDir()
	id, err := loadIdentity(cfg, "mesh_a", "/w", "")
	if err != nil {
		t.Fatal(err)
	}
	path := id.Path
	id.release()
	if err := os.WriteFile(path, []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = loadIdentity(cfg, "mesh_a", "/w", "")
	if err == nil || !strings.Contains(err.Error(), "damaged") || !strings.Contains(err.Error(), filepath.Base(path)) {
		t.Fatalf("damaged record: err = %v, want one naming the file", err)
	}
	if data, _ := os.ReadFile(path); string(data) != "{not json" {
		t.Error("a damaged record was overwritten")
	}
}

func TestSafeNameKeepsMeshIDsInsideTheDirectory(t *testing.T) {
	for _, id := range []string{"mesh_1", "../../etc", "a/b", ".", "..", ""} {
		name := safeName(id)
		if strings.ContainsAny(name, `/\`) || name == "." || name == ".." || name == "" {
			t.Errorf("safeName(%q) = %q", id, name)
		}
	}
}

func TestStaleLaunchRecordsArePruned(t *testing.T) {
	cfg := t.TempDir()
	old, err := loadIdentity(cfg, "mesh_a", "/x", "11111111-1111-4111-8111-111111111111")
	if err != nil {
		t.Fatal(err)
	}
	old.release()
	inUse, err := loadIdentity(cfg, "mesh_a", "/x", "22222222-2222-4222-8222-222222222222")
	if err != nil {
		t.Fatal(err)
	}
	defer inUse.release()
	long := time.Now().Add(-2 * launchRecordTTL)
	for _, p := range []string{old.Path, inUse.Path} {
		if err := os.Chtimes(p, long, long); err != nil {
			t.Fatal(err)
		}
	}
	cur, err := loadIdentity(cfg, "mesh_a", "/x", "33333333-3333-4333-8333-333333333333")
	if err != nil {
		t.Fatal(err)
	}
	defer cur.release()
	if _, err := os.Stat(old.Path); !os.IsNotExist(err) {
		t.Errorf("a launch record unused for %v was kept (%v)", 2*launchRecordTTL, err)
	}
	if _, err := os.Stat(inUse.Path); err != nil {
		t.Errorf("a record held by a running bridge was pruned: %v", err)
	}
}

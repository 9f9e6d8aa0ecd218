package claudecode

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"github.com/claudemesh/claudemesh/internal/cliconfig"
)

// ManifestName is install's record of what it added, in the claudemesh
// config directory (0600), so uninstall removes exactly that: a permission
// or hook the user already had survives.
const ManifestName = "claude-code-install.json"

type manifest struct {
	Version int          `json:"version"`
	Files   []fileRecord `json:"files"`
}

// fileRecord is what install changed in one file, accumulated over runs.
type fileRecord struct {
	Path        string   `json:"path"`
	CreatedFile bool     `json:"createdFile,omitempty"` // the file did not exist before install
	CreatedKeys []string `json:"createdKeys,omitempty"` // containers install made: "hooks", "hooks.Stop", "permissions", ...
	// MCPServer is set when install wrote mcpServers.claudemesh; Previous is
	// the user's entry it replaced (absent: none), Wrote what it wrote.
	MCPServer  *replaced    `json:"mcpServer,omitempty"`
	Permission bool         `json:"permission,omitempty"` // install appended the rule to permissions.allow
	Hooks      []hookRecord `json:"hooks,omitempty"`
}

type replaced struct {
	Previous json.RawMessage `json:"previous,omitempty"`
	// Wrote is the entry install left: uninstall touches only that value.
	Wrote json.RawMessage `json:"wrote,omitempty"`
}

// hookRecord is one hook command install added, or rewrote from Previous
// (an older claudemesh path).
type hookRecord struct {
	Event    string `json:"event"`
	Command  string `json:"command"`
	Previous string `json:"previous,omitempty"`
}

func (r *fileRecord) empty() bool {
	return !r.CreatedFile && len(r.CreatedKeys) == 0 && r.MCPServer == nil && !r.Permission && len(r.Hooks) == 0
}

func (r *fileRecord) createdKey(key string) bool { return slices.Contains(r.CreatedKeys, key) }

func (r *fileRecord) addCreatedKey(key string) {
	if !r.createdKey(key) {
		r.CreatedKeys = append(r.CreatedKeys, key)
	}
}

func loadManifest(dir string) (*manifest, error) {
	path := filepath.Join(dir, ManifestName)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return &manifest{Version: 1}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	var m manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("%s is damaged (%v): move it aside and run the command again (uninstall then removes every claudemesh entry it finds)", path, err)
	}
	return &m, nil
}

// record is the manifest entry of a file (nil when none).
func (m *manifest) record(path string) *fileRecord {
	for i := range m.Files {
		if m.Files[i].Path == path {
			return &m.Files[i]
		}
	}
	return nil
}

// put replaces the entry of rec.Path, dropping it when empty.
func (m *manifest) put(rec fileRecord) {
	m.Files = slices.DeleteFunc(m.Files, func(r fileRecord) bool { return r.Path == rec.Path })
	if !rec.empty() {
		m.Files = append(m.Files, rec)
	}
}

// save writes the manifest atomically (0600, directory 0700), or removes
// it when it records nothing.
func (m *manifest) save(dir string) error {
	path := filepath.Join(dir, ManifestName)
	if len(m.Files) == 0 {
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("removing %s: %w", path, err)
		}
		return nil
	}
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	return cliconfig.WriteFileAtomic(path, append(data, '\n'), nil)
}

// Package cliconfig reads and writes the CLI's config.json in the layout of
// the original claudemesh CLI, so either CLI can read what the other wrote:
//
//	{"version":1,"meshes":[{"meshId","memberId","slug","name","pubkey",
//	  "secretKey","brokerUrl","joinedAt","rootKey","role","ownerSecretKey"?}],
//	 "displayName"?}
//
// Fields this CLI does not know are kept verbatim and written back.
package cliconfig

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// FileName is the config file inside the config directory.
const FileName = "config.json"

// CurrentVersion is the layout version written by this CLI.
const CurrentVersion = 1

// Mesh is one joined mesh. Keys are hex (ed25519, libsodium layout for
// secret keys); RootKey is base64url without padding.
type Mesh struct {
	MeshID         string `json:"meshId"`
	MemberID       string `json:"memberId"`
	Slug           string `json:"slug"`
	Name           string `json:"name"`
	Pubkey         string `json:"pubkey"`
	SecretKey      string `json:"secretKey"`
	BrokerURL      string `json:"brokerUrl"`
	JoinedAt       string `json:"joinedAt"`
	RootKey        string `json:"rootKey"`
	Role           string `json:"role"`
	OwnerSecretKey string `json:"ownerSecretKey,omitempty"`

	extra map[string]json.RawMessage // unknown fields, written back as read
}

// File is the whole config. Path is where it was loaded from and is saved to.
type File struct {
	Version     int
	Meshes      []Mesh
	DisplayName string

	Path  string
	extra map[string]json.RawMessage
}

// Dir is $CLAUDEMESH_CONFIG_DIR, else ~/.claudemesh.
func Dir() (string, error) {
	if d := os.Getenv("CLAUDEMESH_CONFIG_DIR"); d != "" {
		return d, nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("finding the home directory for ~/.claudemesh (set CLAUDEMESH_CONFIG_DIR): %w", err)
	}
	return filepath.Join(home, ".claudemesh"), nil
}

// Load reads dir/config.json. A missing file is an empty config (nothing
// joined yet); a file that does not parse is an error naming the file, and
// is never overwritten by a later Save of an empty config.
func Load(dir string) (*File, error) {
	path := filepath.Join(dir, FileName)
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return &File{Version: CurrentVersion, Path: path}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	f, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	f.Path = path
	return f, nil
}

// Parse decodes a config document, keeping unknown fields.
func Parse(data []byte) (*File, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		return nil, fmt.Errorf("config is not a JSON object: %w", err)
	}
	if top == nil {
		return nil, errors.New("config is not a JSON object: null")
	}
	f := &File{Version: CurrentVersion}
	if raw, ok := top["version"]; ok {
		if err := json.Unmarshal(raw, &f.Version); err != nil {
			return nil, fmt.Errorf("config field version: %w", err)
		}
	}
	if raw, ok := top["displayName"]; ok && string(raw) != "null" {
		if err := json.Unmarshal(raw, &f.DisplayName); err != nil {
			return nil, fmt.Errorf("config field displayName: %w", err)
		}
	}
	if raw, ok := top["meshes"]; ok && string(raw) != "null" {
		var items []json.RawMessage
		if err := json.Unmarshal(raw, &items); err != nil {
			return nil, fmt.Errorf("config field meshes: %w", err)
		}
		for i, item := range items {
			m, err := parseMesh(item)
			if err != nil {
				return nil, fmt.Errorf("config meshes[%d]: %w", i, err)
			}
			f.Meshes = append(f.Meshes, m)
		}
	}
	delete(top, "version")
	delete(top, "displayName")
	delete(top, "meshes")
	f.extra = top
	return f, nil
}

func parseMesh(raw json.RawMessage) (Mesh, error) {
	var m Mesh
	if err := json.Unmarshal(raw, &m); err != nil {
		return Mesh{}, err
	}
	var all map[string]json.RawMessage
	if err := json.Unmarshal(raw, &all); err != nil {
		return Mesh{}, err
	}
	for _, k := range meshKeys {
		delete(all, k)
	}
	m.extra = all
	return m, nil
}

// meshKeys are the Mesh fields this CLI owns.
var meshKeys = []string{"meshId", "memberId", "slug", "name", "pubkey", "secretKey",
	"brokerUrl", "joinedAt", "rootKey", "role", "ownerSecretKey"}

// Marshal encodes the config with unknown fields merged back in.
func (f *File) Marshal() ([]byte, error) {
	top := make(map[string]any, len(f.extra)+3)
	for k, v := range f.extra {
		top[k] = v
	}
	top["version"] = f.Version
	meshes := make([]any, 0, len(f.Meshes))
	for _, m := range f.Meshes {
		obj, err := m.merged()
		if err != nil {
			return nil, err
		}
		meshes = append(meshes, obj)
	}
	top["meshes"] = meshes
	if f.DisplayName != "" {
		top["displayName"] = f.DisplayName
	}
	out, err := json.MarshalIndent(top, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(out, '\n'), nil
}

func (m Mesh) merged() (map[string]json.RawMessage, error) {
	known, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	obj := make(map[string]json.RawMessage, len(m.extra)+len(meshKeys))
	for k, v := range m.extra {
		obj[k] = v
	}
	if err := json.Unmarshal(known, &obj); err != nil {
		return nil, err
	}
	return obj, nil
}

// Save writes the config atomically with mode 0600 in a 0700 directory.
func (f *File) Save() error {
	if f.Path == "" {
		return errors.New("config has no path: load it with cliconfig.Load")
	}
	data, err := f.Marshal()
	if err != nil {
		return fmt.Errorf("encoding %s: %w", f.Path, err)
	}
	return WriteFileAtomic(f.Path, data, nil)
}

// Find returns the joined mesh named by ref: a mesh id, a slug or a name
// (case-insensitive). An empty ref picks the only mesh. Several matches or
// none are errors that list what is joined.
func (f *File) Find(ref string) (*Mesh, error) {
	if len(f.Meshes) == 0 {
		return nil, errors.New("no mesh joined yet: run `claudemesh mesh create <name>` or `claudemesh join <invite>`")
	}
	if ref == "" {
		if len(f.Meshes) == 1 {
			return &f.Meshes[0], nil
		}
		return nil, fmt.Errorf("several meshes are joined (%s): choose one with --mesh", f.names())
	}
	var hits []int
	for i, m := range f.Meshes {
		if m.MeshID == ref {
			return &f.Meshes[i], nil
		}
		if strings.EqualFold(m.Slug, ref) || strings.EqualFold(m.Name, ref) {
			hits = append(hits, i)
		}
	}
	switch len(hits) {
	case 1:
		return &f.Meshes[hits[0]], nil
	case 0:
		return nil, fmt.Errorf("no joined mesh is called %q (joined: %s)", ref, f.names())
	}
	return nil, fmt.Errorf("%q names several joined meshes: use the mesh id (joined: %s)", ref, f.names())
}

// Upsert replaces the mesh with the same id, or appends it.
func (f *File) Upsert(m Mesh) {
	for i := range f.Meshes {
		if f.Meshes[i].MeshID == m.MeshID {
			m.extra = f.Meshes[i].extra
			f.Meshes[i] = m
			return
		}
	}
	f.Meshes = append(f.Meshes, m)
}

// Remove drops the mesh with this id and reports whether it was there.
func (f *File) Remove(meshID string) bool {
	for i := range f.Meshes {
		if f.Meshes[i].MeshID == meshID {
			f.Meshes = append(f.Meshes[:i], f.Meshes[i+1:]...)
			return true
		}
	}
	return false
}

func (f *File) names() string {
	var parts []string
	for _, m := range f.Meshes {
		parts = append(parts, fmt.Sprintf("%s (%s)", m.Slug, m.MeshID))
	}
	return strings.Join(parts, ", ")
}

package cliconfig_test

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/claudemesh/claudemesh/internal/cliconfig"
)

// meshKeys are the mesh fields the CLI owns; every other key is foreign.
var meshKeys = map[string]bool{"meshId": true, "memberId": true, "slug": true, "name": true, "pubkey": true,
	"secretKey": true, "brokerUrl": true, "joinedAt": true, "rootKey": true, "role": true, "ownerSecretKey": true}

// FuzzConfigRoundTrip parses arbitrary bytes as config.json. A document
// that parses must marshal, parse back to the same meshes, version and
// display name, marshal to the same bytes again (stable after one save),
// survive Save/Load through a real file, and keep every field this CLI
// does not know, at the top level and in each mesh, with the same JSON
// value. Nothing may panic.
func FuzzConfigRoundTrip(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := cliconfig.Parse(data)
		if err != nil {
			return
		}
		out, err := cfg.Marshal()
		if err != nil {
			t.Fatalf("a parsed config does not marshal: %v", err)
		}
		again, err := cliconfig.Parse(out)
		if err != nil {
			t.Fatalf("the marshaled config does not parse: %v\n%s", err, out)
		}
		if again.Version != cfg.Version || again.DisplayName != cfg.DisplayName || !sameMeshes(again.Meshes, cfg.Meshes) {
			t.Fatalf("round trip changed the config:\n%+v\n%+v", cfg, again)
		}
		out2, err := again.Marshal()
		if err != nil || !bytes.Equal(out, out2) {
			t.Fatalf("marshal is not stable:\n%s\n%s", out, out2)
		}
		checkForeignKept(t, data, out)

		dir := t.TempDir()
		cfg.Path = dir + "/" + cliconfig.FileName
		if err := cfg.Save(); err != nil {
			t.Fatalf("save: %v", err)
		}
		loaded, err := cliconfig.Load(dir)
		if err != nil {
			t.Fatalf("load after save: %v", err)
		}
		if saved, _ := loaded.Marshal(); !bytes.Equal(saved, out) {
			t.Fatalf("Load(Save(c)) differs:\n%s\n%s", out, saved)
		}
	})
}

func sameMeshes(a, b []cliconfig.Mesh) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		ja, _ := json.Marshal(a[i])
		jb, _ := json.Marshal(b[i])
		if !bytes.Equal(ja, jb) {
			return false
		}
	}
	return true
}

// checkForeignKept compares the unknown fields of the input with the
// output by JSON value (whitespace and escaping may differ).
func checkForeignKept(t *testing.T, in, out []byte) {
	t.Helper()
	var top, outTop map[string]json.RawMessage
	if json.Unmarshal(in, &top) != nil || json.Unmarshal(out, &outTop) != nil {
		t.Fatal("input or output is not a JSON object")
	}
	for k, v := range top {
		if k == "version" || k == "displayName" || k == "meshes" {
			continue
		}
		if !sameJSON(v, outTop[k]) {
			t.Fatalf("top-level field %q changed: %s -> %s", k, v, outTop[k])
		}
	}
	var inMeshes, outMeshes []map[string]json.RawMessage
	if raw, ok := top["meshes"]; !ok || json.Unmarshal(raw, &inMeshes) != nil {
		return
	}
	if err := json.Unmarshal(outTop["meshes"], &outMeshes); err != nil || len(outMeshes) != len(inMeshes) {
		t.Fatalf("meshes changed: %s", outTop["meshes"])
	}
	for i, m := range inMeshes {
		for k, v := range m {
			if !meshKeys[k] && !sameJSON(v, outMeshes[i][k]) {
				t.Fatalf("meshes[%d] field %q changed: %s -> %s", i, k, v, outMeshes[i][k])
			}
		}
	}
}

func sameJSON(a, b json.RawMessage) bool {
	decode := func(r json.RawMessage) (any, bool) {
		d := json.NewDecoder(bytes.NewReader(r))
		d.UseNumber()
		var v any
		return v, d.Decode(&v) == nil
	}
	va, okA := decode(a)
	vb, okB := decode(b)
	return okA && okB && reflect.DeepEqual(va, vb)
}

package claudecode

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"testing"
)

// FuzzInstallRoundTrip: for any content of the two files, install either
// fails and writes nothing, or leaves valid JSON with everything wired; a
// second install changes nothing; uninstall gives back the original value
// (a blank file comes back as {}, a missing one stays missing).
func FuzzInstallRoundTrip(f *testing.F) {
	f.Add([]byte(userSettings), []byte(userClaudeJSON))
	f.Add([]byte(``), []byte(`{}`))
	f.Add([]byte(`{"hooks":{"Stop":[{"matcher":"","hooks":[{"type":"command","command":"/usr/bin/claudemesh hook idle"},{"type":"command","command":"x"}]}]}}`), []byte(`{"mcpServers":{"claudemesh":{"command":"npx"}}}`))
	f.Add([]byte(`{"permissions":{"allow":["mcp__claudemesh","mcp__claudemesh"]},"hooks":{"SessionEnd":[]}}`), []byte(`{"mcpServers":{}}`))
	f.Add([]byte(`{"hooks":{"Stop":[{"hooks":[{"type":"command","command":"'/opt/claude mesh/bin/claudemesh' hook idle"}]}]},"a":1e400}`), []byte(`{"a":1,"a":2}`))
	f.Add([]byte(`{"hooks":[]}`), []byte(`[1]`))
	f.Fuzz(func(t *testing.T, settings, claudeJSON []byte) {
		e := newEnv(t)
		orig := map[string][]byte{}
		for path, data := range map[string][]byte{e.settings(): settings, e.claudeJSON(): claudeJSON} {
			if len(data) > 0 {
				e.write(path, string(data), 0o600)
				orig[path] = data
			}
		}
		unchanged := func(when string) {
			t.Helper()
			for _, path := range []string{e.settings(), e.claudeJSON()} {
				got, err := os.ReadFile(path)
				want, existed := orig[path]
				if existed != (err == nil) || !bytes.Equal(got, want) {
					t.Fatalf("%s: %s changed: %q -> %q (%v)", when, path, want, got, err)
				}
			}
		}
		if _, err := Install(e.opts); err != nil {
			unchanged("a failed install")
			if _, err := Uninstall(e.opts); err == nil {
				t.Fatalf("uninstall accepted files install refused: %v", err)
			}
			unchanged("a failed uninstall")
			return
		}
		installed := map[string]string{}
		for _, path := range []string{e.settings(), e.claudeJSON()} {
			data := e.read(path)
			if !json.Valid([]byte(data)) {
				t.Fatalf("install wrote invalid JSON to %s:\n%s", path, data)
			}
			installed[path] = data
		}
		if w := Inspect(e.paths()); !w.Complete() || w.MCPErr != nil || w.SettingsErr != nil {
			t.Fatalf("not wired after install: %+v", w)
		}
		if rep, err := Install(e.opts); err != nil || len(rep.Changes) != 0 {
			t.Fatalf("second install: %v %+v", err, rep)
		}
		for path, data := range installed {
			if e.read(path) != data {
				t.Fatalf("second install rewrote %s", path)
			}
		}
		if _, err := Uninstall(e.opts); err != nil {
			t.Fatalf("uninstall after install: %v", err)
		}
		for _, path := range []string{e.settings(), e.claudeJSON()} {
			data, existed := orig[path]
			got, err := os.ReadFile(path)
			if !existed {
				if !errors.Is(err, os.ErrNotExist) {
					t.Fatalf("%s, created by install, outlived uninstall: %q", path, got)
				}
				continue
			}
			if err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			var want, have any
			if len(bytes.TrimSpace(data)) == 0 {
				data = []byte(`{}`)
			}
			if json.Unmarshal(data, &want) != nil {
				continue // e.g. a number beyond float64: kept as text, not comparable here
			}
			if err := json.Unmarshal(got, &have); err != nil || !reflect.DeepEqual(want, have) {
				t.Fatalf("%s after install+uninstall:\n got %s\nwant %s", path, got, data)
			}
		}
	})
}

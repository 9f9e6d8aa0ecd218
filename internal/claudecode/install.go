package claudecode

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Options say whose files install and uninstall edit.
type Options struct {
	Home string // Claude Code's files are under it
	// ClaudeConfigDir is $CLAUDE_CONFIG_DIR: when set, the files are in it.
	ClaudeConfigDir string
	ConfigDir       string // claudemesh's config directory, where the manifest lives
	Executable      string // absolute path of the claudemesh binary (install only)
	Now             func() time.Time
}

// Change is one edit to one file, as printed to the user.
type Change struct {
	File   string `json:"file"`
	Action string `json:"action"` // added, updated, removed, restored
	Key    string `json:"key"`    // e.g. mcpServers.claudemesh, permissions.allow, hooks.Stop
	Value  string `json:"value,omitempty"`
}

// Report is what an install or uninstall did.
type Report struct {
	Changes      []Change `json:"changes"`
	Backups      []string `json:"backups,omitempty"`
	CreatedFiles []string `json:"createdFiles,omitempty"`
	RemovedFiles []string `json:"removedFiles,omitempty"`
	// Guessed names files uninstall cleaned without a manifest record, by
	// recognising claudemesh's entries.
	Guessed []string `json:"guessed,omitempty"`
}

// editFunc changes one parsed file and its manifest record; guess is set
// for an uninstall without a record.
type editFunc func(doc *object, rec *fileRecord, guess bool) ([]Change, error)

// plan is one file's edit, computed before anything is written.
type plan struct {
	file       *jsonFile
	out        []byte
	removeFile bool // uninstall emptied a file install had created
	changes    []Change
	rec        fileRecord
}

func makePlan(path string, rec fileRecord, guess, uninstall bool, edit editFunc) (*plan, error) {
	f, err := readJSONFile(path)
	if err != nil {
		return nil, err
	}
	doc, err := f.parse()
	if err != nil {
		return nil, err
	}
	p := &plan{file: f, rec: rec.clone()}
	if p.changes, err = edit(doc, &p.rec, guess); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	for i := range p.changes {
		p.changes[i].File = path
	}
	if len(p.changes) == 0 {
		return p, nil
	}
	if !f.exists {
		p.rec.CreatedFile = true
	}
	if uninstall && doc.len() == 0 && rec.CreatedFile { // guessing, an emptied file stays as {}
		p.removeFile = true
		return p, nil
	}
	p.out, err = doc.format(f.finalNewline())
	return p, err
}

// commit writes a plan; when the file changed since it was read it is read
// and edited again (a few times) rather than overwriting the other writer.
func commit(p *plan, replan func() (*plan, error), now time.Time, rep *Report) (*plan, error) {
	for attempt := 0; ; attempt++ {
		if len(p.changes) == 0 {
			return p, nil
		}
		var backup string
		var err error
		if p.removeFile {
			backup, err = p.file.remove(now)
		} else {
			backup, err = p.file.replace(p.out, now)
		}
		if errors.Is(err, errChangedMeanwhile) && attempt < 3 {
			if p, err = replan(); err != nil {
				return nil, err
			}
			continue
		}
		if errors.Is(err, errChangedMeanwhile) || errors.Is(err, errLocked) {
			return nil, fmt.Errorf("%s %w: run the command again", p.file.path, err)
		}
		if err != nil {
			return nil, err
		}
		rep.Changes = append(rep.Changes, p.changes...)
		if backup != "" {
			rep.Backups = append(rep.Backups, backup)
		}
		switch {
		case p.removeFile:
			rep.RemovedFiles = append(rep.RemovedFiles, p.file.path)
		case !p.file.exists:
			rep.CreatedFiles = append(rep.CreatedFiles, p.file.path)
		}
		return p, nil
	}
}

type target struct {
	path      string
	install   editFunc
	uninstall editFunc
}

func targets(o Options) []target {
	p := PathsFor(o.Home, o.ClaudeConfigDir)
	return []target{
		{p.ClaudeJSON, installMCP(o.Executable), uninstallMCP},
		{p.Settings, installSettings(o.Executable), uninstallSettings},
	}
}

func (o Options) check(needExe bool) error {
	switch {
	case o.Home == "" && o.ClaudeConfigDir == "":
		return errors.New("HOME is not set: cannot find Claude Code's settings")
	case o.ConfigDir == "":
		return errors.New("no claudemesh config directory")
	case needExe && o.Executable == "":
		return errors.New("the path of the claudemesh binary is unknown")
	}
	return nil
}

func (o Options) now() time.Time {
	if o.Now != nil {
		return o.Now()
	}
	return time.Now()
}

// Install adds claudemesh's MCP server, hooks and permission rule. Both
// files are read and checked before either is written; a run with nothing
// to add writes nothing.
func Install(o Options) (*Report, error) {
	return run(o, false)
}

// Uninstall removes what install recorded (or, with no record, every
// claudemesh entry it recognises) and nothing else.
func Uninstall(o Options) (*Report, error) {
	return run(o, true)
}

func run(o Options, uninstall bool) (*Report, error) {
	if err := o.check(!uninstall); err != nil {
		return nil, err
	}
	m, err := loadManifest(o.ConfigDir)
	if err != nil {
		return nil, err
	}
	ts := targets(o)
	replans := make([]func() (*plan, error), len(ts))
	plans := make([]*plan, len(ts))
	guesses := make([]bool, len(ts))
	for i, t := range ts {
		rec := fileRecord{Path: t.path}
		if r := m.record(t.path); r != nil {
			rec = r.clone()
		} else {
			guesses[i] = uninstall
		}
		edit := t.install
		if uninstall {
			edit = t.uninstall
		}
		guess := guesses[i]
		replans[i] = func() (*plan, error) { return makePlan(t.path, rec, guess, uninstall, edit) }
		if plans[i], err = replans[i](); err != nil {
			return nil, fmt.Errorf("%w (nothing was changed)", err)
		}
	}
	// Both files must be writable before either is: a failure on the second
	// would leave the first changed (half an install).
	for _, p := range plans {
		if len(p.changes) > 0 {
			if err := p.file.checkWritable(); err != nil {
				return nil, fmt.Errorf("%w (nothing was changed)", err)
			}
		}
	}
	rep := &Report{Changes: []Change{}}
	now := o.now()
	for i, t := range ts {
		p, err := commit(plans[i], replans[i], now, rep)
		if err != nil {
			return rep, err
		}
		if len(p.changes) == 0 && (!uninstall || guesses[i]) {
			continue // nothing done, nothing to record
		}
		if uninstall {
			if guesses[i] && len(p.changes) > 0 {
				rep.Guessed = append(rep.Guessed, t.path)
			}
			m.put(fileRecord{Path: t.path}) // nothing of ours is left to remember
		} else {
			m.put(p.rec)
		}
		if err := m.save(o.ConfigDir); err != nil {
			return rep, fmt.Errorf("%s changed, but recording that failed (uninstall will guess): %w", t.path, err)
		}
	}
	return rep, nil
}

func (r *fileRecord) clone() fileRecord {
	var c fileRecord
	data, _ := json.Marshal(r)
	_ = json.Unmarshal(data, &c)
	return c
}

// installMCP sets mcpServers.claudemesh to run this binary's `mcp`.
func installMCP(exe string) editFunc {
	return func(doc *object, rec *fileRecord, _ bool) ([]Change, error) {
		servers, created, err := subObject(doc, "mcpServers", "mcpServers")
		if err != nil {
			return nil, err
		}
		next, cur, had, err := mcpWant(servers, exe)
		if err != nil || next == nil {
			return nil, err
		}
		servers.set(ServerName, next)
		doc.set("mcpServers", servers.raw())
		if created {
			rec.addCreatedKey("mcpServers")
		}
		switch {
		case rec.MCPServer == nil && had:
			rec.MCPServer = &replaced{Previous: bytes.Clone(cur)}
		case rec.MCPServer == nil || !had:
			rec.MCPServer = &replaced{}
		}
		rec.MCPServer.Wrote = bytes.Clone(next)
		action := "added"
		if had {
			action = "updated"
		}
		return []Change{{Action: action, Key: "mcpServers." + ServerName, Value: exe + " " + mcpSubcommand}}, nil
	}
}

// mcpWant is the mcpServers.claudemesh entry install wants (nil: already
// there). Only command and args are set in an existing object entry, so
// the user's other members (env, type...) are kept.
func mcpWant(servers *object, exe string) (next, cur json.RawMessage, had bool, err error) {
	want := mcpEntry(exe)
	cur, had = servers.get(ServerName)
	if !had || !isObject(cur) {
		return want, cur, had, nil
	}
	entry, err := parseObject(cur)
	if err != nil {
		return nil, nil, false, err
	}
	command, _ := entry.get("command")
	args, _ := entry.get("args")
	if jsonEqual(command, mustMarshal(exe)) && jsonEqual(args, mustMarshal([]string{mcpSubcommand})) {
		return nil, cur, had, nil
	}
	entry.set("command", mustMarshal(exe))
	entry.set("args", mustMarshal([]string{mcpSubcommand}))
	return entry.raw(), cur, had, nil
}

// isClaudemeshMCP recognises an entry running `<…/claudemesh*> mcp`: what
// an install recorded before Wrote existed must still look like ours.
func isClaudemeshMCP(raw json.RawMessage) bool {
	var s MCPServer
	return json.Unmarshal(raw, &s) == nil && strings.HasPrefix(filepath.Base(s.Command), "claudemesh") &&
		slices.Equal(s.Args, []string{mcpSubcommand})
}

// uninstallMCP removes mcpServers.claudemesh, or puts back the entry
// install replaced.
func uninstallMCP(doc *object, rec *fileRecord, guess bool) ([]Change, error) {
	if _, ok := doc.get("mcpServers"); !ok || (!guess && rec.MCPServer == nil) {
		return nil, nil
	}
	servers, _, err := subObject(doc, "mcpServers", "mcpServers")
	if err != nil {
		return nil, err
	}
	cur, had := servers.get(ServerName)
	if !guess {
		// An entry changed since install is the user's now: left alone.
		ours := had && (rec.MCPServer.Wrote == nil && isClaudemeshMCP(cur) || jsonEqual(cur, rec.MCPServer.Wrote))
		if !ours {
			return nil, nil
		}
	}
	var ch Change
	switch {
	case !guess && rec.MCPServer.Previous != nil:
		servers.set(ServerName, rec.MCPServer.Previous)
		ch = Change{Action: "restored", Key: "mcpServers." + ServerName, Value: "the entry that was there before install"}
	case had:
		servers.del(ServerName)
		ch = Change{Action: "removed", Key: "mcpServers." + ServerName}
	default:
		return nil, nil
	}
	if servers.len() == 0 && (guess || rec.createdKey("mcpServers")) {
		doc.del("mcpServers")
	} else {
		doc.set("mcpServers", servers.raw())
	}
	return []Change{ch}, nil
}

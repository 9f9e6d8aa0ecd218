package claudecode

import (
	"encoding/json"
	"fmt"
	"slices"
)

// installSettings adds the permission rule and the three hooks to
// settings.json. A claudemesh hook already there (another path to the
// binary) is pointed at this one in place instead of added twice.
func installSettings(exe string) editFunc {
	return func(doc *object, rec *fileRecord, _ bool) ([]Change, error) {
		perms, permsCreated, err := subObject(doc, "permissions", "permissions")
		if err != nil {
			return nil, err
		}
		elems, rules, allowCreated, err := readAllow(perms)
		if err != nil {
			return nil, err
		}
		hooks, hooksCreated, err := subObject(doc, "hooks", "hooks")
		if err != nil {
			return nil, err
		}
		var changes []Change
		if !slices.Contains(rules, PermissionRule) {
			perms.set("allow", arrayRaw(append(elems, mustMarshal(PermissionRule))))
			doc.set("permissions", perms.raw())
			rec.Permission = true
			if permsCreated {
				rec.addCreatedKey("permissions")
			}
			if allowCreated {
				rec.addCreatedKey("permissions.allow")
			}
			changes = append(changes, Change{Action: "added", Key: "permissions.allow", Value: PermissionRule})
		}
		hooksChanged := false
		for _, ev := range HookEvents {
			groups, created, err := readHookGroups(hooks, ev.Event)
			if err != nil {
				return nil, err
			}
			ch, changed, err := installHook(groups, ev, HookCommand(exe, ev.Status), rec)
			if err != nil {
				return nil, err
			}
			if ch == nil {
				continue
			}
			hooks.set(ev.Event, arrayRaw(changed))
			if created {
				rec.addCreatedKey("hooks." + ev.Event)
			}
			changes = append(changes, *ch)
			hooksChanged = true
		}
		if hooksChanged {
			doc.set("hooks", hooks.raw())
			if hooksCreated {
				rec.addCreatedKey("hooks")
			}
		}
		return changes, nil
	}
}

// installHook makes one event run want: nothing when it does, else the
// first claudemesh hook of that status is rewritten, else a group is added.
func installHook(groups []json.RawMessage, ev HookEvent, want string, rec *fileRecord) (*Change, []json.RawMessage, error) {
	path := "hooks." + ev.Event
	gi, hi, old := -1, -1, ""
	for i, g := range groups {
		cmds, err := groupEntries(g, fmt.Sprintf("%s[%d]", path, i))
		if err != nil {
			return nil, nil, err
		}
		for j, c := range cmds {
			if c == want {
				return nil, nil, nil
			}
			if _, status, ok := hookStatus(c); ok && status == ev.Status && gi < 0 {
				gi, hi, old = i, j, c
			}
		}
	}
	if gi < 0 {
		rec.Hooks = append(rec.Hooks, hookRecord{Event: ev.Event, Command: want})
		return &Change{Action: "added", Key: path, Value: want}, append(groups, newHookGroup(want)), nil
	}
	g, err := setEntryCommand(groups[gi], hi, want)
	if err != nil {
		return nil, nil, fmt.Errorf("%s[%d]: %w", path, gi, err)
	}
	groups[gi] = g
	if r := rec.hook(ev.Event, old); r != nil {
		r.Command = want // our own older path: still ours, same original
	} else {
		rec.Hooks = append(rec.Hooks, hookRecord{Event: ev.Event, Command: want, Previous: old})
	}
	return &Change{Action: "updated", Key: path, Value: want}, groups, nil
}

func (r *fileRecord) hook(event, command string) *hookRecord {
	for i := range r.Hooks {
		if r.Hooks[i].Event == event && r.Hooks[i].Command == command {
			return &r.Hooks[i]
		}
	}
	return nil
}

// setEntryCommand rewrites the command of a group's entry hi, keeping the
// rest of the group and the entry as they were.
func setEntryCommand(group json.RawMessage, hi int, command string) (json.RawMessage, error) {
	g, err := parseObject(group)
	if err != nil {
		return nil, err
	}
	entries, _, err := subArray(g, "hooks", "hooks")
	if err != nil {
		return nil, err
	}
	e, err := parseObject(entries[hi])
	if err != nil {
		return nil, err
	}
	e.set("command", mustMarshal(command))
	entries[hi] = e.raw()
	g.set("hooks", arrayRaw(entries))
	return g.raw(), nil
}

// uninstallSettings removes the permission rule and hooks install added
// (or, guessing, every claudemesh one), and containers left empty that
// install had created.
func uninstallSettings(doc *object, rec *fileRecord, guess bool) ([]Change, error) {
	var changes []Change
	if _, ok := doc.get("permissions"); ok && (guess || rec.Permission) {
		perms, _, err := subObject(doc, "permissions", "permissions")
		if err != nil {
			return nil, err
		}
		elems, rules, absent, err := readAllow(perms)
		if err != nil {
			return nil, err
		}
		if i := slices.Index(rules, PermissionRule); !absent && i >= 0 {
			elems = slices.Delete(elems, i, i+1)
			if len(elems) == 0 && (guess || rec.createdKey("permissions.allow")) {
				perms.del("allow")
			} else {
				perms.set("allow", arrayRaw(elems))
			}
			if perms.len() == 0 && (guess || rec.createdKey("permissions")) {
				doc.del("permissions")
			} else {
				doc.set("permissions", perms.raw())
			}
			changes = append(changes, Change{Action: "removed", Key: "permissions.allow", Value: PermissionRule})
		}
	}
	if _, ok := doc.get("hooks"); !ok || (!guess && len(rec.Hooks) == 0) {
		return changes, nil
	}
	hooks, _, err := subObject(doc, "hooks", "hooks")
	if err != nil {
		return nil, err
	}
	hooksChanged := false
	for _, ev := range HookEvents {
		groups, absent, err := readHookGroups(hooks, ev.Event)
		if err != nil {
			return nil, err
		}
		if absent {
			continue
		}
		groups, evChanges, err := uninstallHooks(groups, ev, rec, guess)
		if err != nil {
			return nil, err
		}
		if len(evChanges) == 0 {
			continue
		}
		changes = append(changes, evChanges...)
		hooksChanged = true
		if len(groups) == 0 && (guess || rec.createdKey("hooks."+ev.Event)) {
			hooks.del(ev.Event)
		} else {
			hooks.set(ev.Event, arrayRaw(groups))
		}
	}
	if !hooksChanged {
		return changes, nil
	}
	if hooks.len() == 0 && (guess || rec.createdKey("hooks")) {
		doc.del("hooks")
	} else {
		doc.set("hooks", hooks.raw())
	}
	return changes, nil
}

// uninstallHooks takes ours out of one event's groups: a recorded hook is
// removed (or set back to the command it replaced); guessing, every
// claudemesh hook of the event's status goes. A group left without hooks
// goes too.
func uninstallHooks(groups []json.RawMessage, ev HookEvent, rec *fileRecord, guess bool) ([]json.RawMessage, []Change, error) {
	path := "hooks." + ev.Event
	used := make([]bool, len(rec.Hooks))
	var changes []Change
	var kept []json.RawMessage
	for i, group := range groups {
		cmds, err := groupEntries(group, fmt.Sprintf("%s[%d]", path, i))
		if err != nil {
			return nil, nil, err
		}
		g, err := parseObject(group)
		if err != nil {
			return nil, nil, err
		}
		entries, _, err := subArray(g, "hooks", path+".hooks")
		if err != nil {
			return nil, nil, err
		}
		var out []json.RawMessage
		touched := false
		for j, c := range cmds {
			previous, ours := "", false
			if guess {
				_, status, ok := hookStatus(c)
				ours = ok && status == ev.Status
			} else {
				// A recorded command must still be a claudemesh hook of this
				// event's status: a damaged or edited manifest cannot make
				// uninstall remove a hook of the user's.
				_, status, ok := hookStatus(c)
				for k, r := range rec.Hooks {
					if ok && status == ev.Status && !used[k] && r.Event == ev.Event && r.Command == c {
						used[k], ours, previous = true, true, r.Previous
						break
					}
				}
			}
			switch {
			case !ours:
				out = append(out, entries[j])
			case previous != "":
				e, err := parseObject(entries[j])
				if err != nil {
					return nil, nil, err
				}
				e.set("command", mustMarshal(previous))
				out = append(out, e.raw())
				touched = true
				changes = append(changes, Change{Action: "restored", Key: path, Value: previous})
			default:
				touched = true
				changes = append(changes, Change{Action: "removed", Key: path, Value: c})
			}
		}
		switch {
		case !touched:
			kept = append(kept, group)
		case len(out) > 0:
			g.set("hooks", arrayRaw(out))
			kept = append(kept, g.raw())
		}
	}
	return kept, changes, nil
}

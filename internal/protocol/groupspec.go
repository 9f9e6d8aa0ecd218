package protocol

import (
	"fmt"
	"strings"
	"unicode"
)

// ParseGroupsSpec reads the "name:role,name2" form that `launch --groups`
// and CLAUDEMESH_GROUPS use. Blank items are skipped; a bad group name, an
// empty role after ":", a role with control characters (roles are shown in
// terminals and sent to peers) or a repeated group is an error naming the
// item.
func ParseGroupsSpec(spec string) ([]Group, error) {
	var groups []Group
	seen := map[string]bool{}
	for _, item := range strings.Split(spec, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		name, role, hasRole := strings.Cut(item, ":")
		name, role = strings.TrimSpace(name), strings.TrimSpace(role)
		switch {
		case !ValidGroupName(name):
			return nil, fmt.Errorf("group %q: names are 1 to 64 of a-z 0-9 _ - / and start with a letter or digit", name)
		case hasRole && (role == "" || len(role) > MaxNameLen):
			return nil, fmt.Errorf("group %q: the role after ':' must be 1 to %d characters", name, MaxNameLen)
		case strings.ContainsFunc(role, unicode.IsControl):
			return nil, fmt.Errorf("group %q: the role must not contain control characters", name)
		case seen[name]:
			return nil, fmt.Errorf("group %q is listed twice", name)
		}
		seen[name] = true
		groups = append(groups, Group{Name: name, Role: role})
	}
	if len(groups) > MaxGroupsPerHello {
		return nil, fmt.Errorf("%d groups given; at most %d", len(groups), MaxGroupsPerHello)
	}
	return groups, nil
}

// FormatGroupsSpec is the inverse of ParseGroupsSpec.
func FormatGroupsSpec(groups []Group) string {
	parts := make([]string, len(groups))
	for i, g := range groups {
		parts[i] = g.Name
		if g.Role != "" {
			parts[i] += ":" + g.Role
		}
	}
	return strings.Join(parts, ",")
}

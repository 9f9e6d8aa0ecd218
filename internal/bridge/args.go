package bridge

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/mark3labs/mcp-go/mcp"
)

// args reads a tool call's arguments with errors that name the argument.
type args map[string]any

func argsOf(req mcp.CallToolRequest) args { return args(req.GetArguments()) }

func (a args) str(name string, required bool) (string, error) {
	v, ok := a[name]
	if !ok || v == nil {
		if required {
			return "", fmt.Errorf("argument %q is required", name)
		}
		return "", nil
	}
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("argument %q must be a string", name)
	}
	if required && strings.TrimSpace(s) == "" {
		return "", fmt.Errorf("argument %q must not be empty", name)
	}
	return s, nil
}

// strings accepts a string or an array of strings.
func (a args) strs(name string, required bool) ([]string, error) {
	switch v := a[name].(type) {
	case nil:
		if required {
			return nil, fmt.Errorf("argument %q is required", name)
		}
		return nil, nil
	case string:
		if strings.TrimSpace(v) == "" {
			return nil, fmt.Errorf("argument %q must not be empty", name)
		}
		return []string{v}, nil
	case []any:
		out := make([]string, 0, len(v))
		for _, e := range v {
			s, ok := e.(string)
			if !ok || strings.TrimSpace(s) == "" {
				return nil, fmt.Errorf("argument %q must hold non-empty strings", name)
			}
			out = append(out, s)
		}
		if required && len(out) == 0 {
			return nil, fmt.Errorf("argument %q must not be empty", name)
		}
		return out, nil
	}
	return nil, fmt.Errorf("argument %q must be a string or an array of strings", name)
}

// raw is an argument of any JSON type, re-encoded.
func (a args) raw(name string) (json.RawMessage, error) {
	v, ok := a[name]
	if !ok {
		return nil, fmt.Errorf("argument %q is required", name)
	}
	return json.Marshal(v)
}

package claudecode

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
)

// object is a JSON object that keeps its members' order and their raw text,
// so a settings file comes back with the user's keys where they were and
// untouched values exactly as written (numbers, escapes), only re-indented.
type object struct {
	keys []string
	vals map[string]json.RawMessage
}

func newObject() *object { return &object{vals: map[string]json.RawMessage{}} }

// parseObject reads one JSON object and nothing after it. A key given twice
// keeps its first position and its last value, as JSON.parse and
// encoding/json read it.
func parseObject(data []byte) (*object, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	if err != nil {
		return nil, syntaxError(err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, fmt.Errorf("want a JSON object, found %s", kindOfToken(tok))
	}
	o := newObject()
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, syntaxError(err)
		}
		key, _ := tok.(string) // inside an object the decoder only yields string keys
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, syntaxError(err)
		}
		o.set(key, raw)
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return nil, syntaxError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("invalid JSON: data after the top-level object")
	}
	return o, nil
}

func syntaxError(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return errors.New("invalid JSON: unexpected end of file")
	}
	return fmt.Errorf("invalid JSON: %w", err)
}

func kindOfToken(tok json.Token) string {
	switch t := tok.(type) {
	case json.Delim:
		if t == '[' {
			return "an array"
		}
	case string:
		return "a string"
	case float64, json.Number:
		return "a number"
	case bool:
		return "a boolean"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%v", tok)
}

// kind names the JSON type of a raw value, for error messages.
func kind(raw json.RawMessage) string {
	b := bytes.TrimSpace(raw)
	if len(b) == 0 {
		return "nothing"
	}
	switch b[0] {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}

func isObject(raw json.RawMessage) bool { return kind(raw) == "an object" }
func isArray(raw json.RawMessage) bool  { return kind(raw) == "an array" }

func (o *object) get(key string) (json.RawMessage, bool) {
	v, ok := o.vals[key]
	return v, ok
}

// set replaces a member's value in place, or appends a new member.
func (o *object) set(key string, v json.RawMessage) {
	if _, ok := o.vals[key]; !ok {
		o.keys = append(o.keys, key)
	}
	o.vals[key] = v
}

func (o *object) del(key string) {
	if _, ok := o.vals[key]; !ok {
		return
	}
	delete(o.vals, key)
	for i, k := range o.keys {
		if k == key {
			o.keys = append(o.keys[:i:i], o.keys[i+1:]...)
			break
		}
	}
}

func (o *object) len() int { return len(o.keys) }

// raw is the object as compact-ish JSON (members in order, values as read).
func (o *object) raw() json.RawMessage {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, k := range o.keys {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(mustMarshal(k))
		b.WriteByte(':')
		b.Write(o.vals[k])
	}
	b.WriteByte('}')
	return b.Bytes()
}

// format is the object as a file: two-space indent, like Claude Code's own
// writes, with a final newline when the original had one (or was new).
func (o *object) format(finalNewline bool) ([]byte, error) {
	var b bytes.Buffer
	if err := json.Indent(&b, o.raw(), "", "  "); err != nil {
		return nil, err
	}
	if finalNewline {
		b.WriteByte('\n')
	}
	return b.Bytes(), nil
}

// mustMarshal encodes values this package builds itself (strings, string
// slices, small structs), which cannot fail; HTML characters stay literal.
func mustMarshal(v any) json.RawMessage {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		panic(err)
	}
	return bytes.TrimRight(b.Bytes(), "\n")
}

// subObject reads o[key] as an object: absent gives a new empty one (created
// reports that), any other type is an error naming the key.
func subObject(o *object, key, path string) (sub *object, created bool, err error) {
	raw, ok := o.get(key)
	if !ok {
		return newObject(), true, nil
	}
	if !isObject(raw) {
		return nil, false, fmt.Errorf("%s is %s, want an object", path, kind(raw))
	}
	sub, err = parseObject(raw)
	if err != nil {
		return nil, false, fmt.Errorf("%s: %w", path, err)
	}
	return sub, false, nil
}

// subArray reads o[key] as an array of raw elements, like subObject.
func subArray(o *object, key, path string) (elems []json.RawMessage, created bool, err error) {
	raw, ok := o.get(key)
	if !ok {
		return nil, true, nil
	}
	if !isArray(raw) {
		return nil, false, fmt.Errorf("%s is %s, want an array", path, kind(raw))
	}
	if err := json.Unmarshal(raw, &elems); err != nil {
		return nil, false, fmt.Errorf("%s: %w", path, err)
	}
	return elems, false, nil
}

// arrayRaw encodes raw elements back into an array.
func arrayRaw(elems []json.RawMessage) json.RawMessage {
	if len(elems) == 0 {
		return json.RawMessage("[]")
	}
	parts := make([]string, len(elems))
	for i, e := range elems {
		parts[i] = string(e)
	}
	return json.RawMessage("[" + strings.Join(parts, ",") + "]")
}

// jsonEqual compares two JSON texts by value (formatting and member order
// aside).
func jsonEqual(a, b json.RawMessage) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}

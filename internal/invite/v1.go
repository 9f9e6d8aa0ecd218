// Package invite holds the invite token formats: the deprecated v1 token
// that embeds the mesh root key (invites.md §4) and the v2 capability
// canonical string (§3).
package invite

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/claudemesh/claudemesh/internal/protocol"
)

// MaxV1TokenLen bounds a v1 token before any decoding. Real tokens are about
// 600 characters; the bound keeps hostile input cheap to reject.
const MaxV1TokenLen = 4096

// ErrBadSignature is returned when an invite signature does not verify.
var ErrBadSignature = errors.New("invite signature does not verify against owner_pubkey")

// V1Payload is the JSON inside a v1 token. The field order is part of the
// format: existing clients compare tokens byte for byte, and Go marshals
// struct fields in declaration order.
type V1Payload struct {
	V           int    `json:"v"`
	MeshID      string `json:"mesh_id"`
	MeshSlug    string `json:"mesh_slug"`
	BrokerURL   string `json:"broker_url"`
	ExpiresAt   int64  `json:"expires_at"` // unix seconds
	MeshRootKey string `json:"mesh_root_key"`
	Role        string `json:"role"`
	OwnerPubkey string `json:"owner_pubkey"`
	Signature   string `json:"signature"`
}

// Canonical is the string the owner signs:
// v|mesh_id|mesh_slug|broker_url|expires_at|mesh_root_key|role|owner_pubkey.
func (p V1Payload) Canonical() string {
	return strings.Join([]string{
		strconv.Itoa(p.V), p.MeshID, p.MeshSlug, p.BrokerURL,
		strconv.FormatInt(p.ExpiresAt, 10), p.MeshRootKey, p.Role, p.OwnerPubkey,
	}, "|")
}

// SignV1 returns p signed by owner. It sets V to 1 and OwnerPubkey to the
// owner's key first, so the result always verifies.
func SignV1(p V1Payload, owner ed25519.PrivateKey) V1Payload {
	p.V = 1
	p.OwnerPubkey = hex.EncodeToString(owner.Public().(ed25519.PublicKey))
	p.Signature = protocol.SignHex(owner, p.Canonical())
	return p
}

// VerifySignature checks the signature against the payload's own
// owner_pubkey. The caller must still check that this key is the mesh owner.
func (p V1Payload) VerifySignature() error {
	if !protocol.IsHexKey(p.OwnerPubkey) {
		return errors.New("invite owner_pubkey must be 64 lowercase hex characters")
	}
	if !protocol.IsHexSig(p.Signature) {
		return errors.New("invite signature must be 128 lowercase hex characters")
	}
	if !protocol.VerifyHex(p.OwnerPubkey, p.Canonical(), p.Signature) {
		return ErrBadSignature
	}
	return nil
}

// Expired reports whether now is at or after expires_at (unix seconds).
func (p V1Payload) Expired(now time.Time) bool { return now.Unix() >= p.ExpiresAt }

// Validate checks that every field is present and well-shaped. It does not
// check the signature or the expiry.
func (p V1Payload) Validate() error {
	switch {
	case p.V != 1:
		return fmt.Errorf("invite v must be 1, got %d", p.V)
	case p.MeshID == "":
		return errors.New("invite mesh_id is empty")
	case p.MeshSlug == "":
		return errors.New("invite mesh_slug is empty")
	case p.ExpiresAt <= 0:
		return fmt.Errorf("invite expires_at must be a positive unix time in seconds, got %d", p.ExpiresAt)
	case p.Role != "member" && p.Role != "admin":
		return fmt.Errorf(`invite role must be "member" or "admin", got %q`, p.Role)
	case !protocol.IsHexKey(p.OwnerPubkey):
		return errors.New("invite owner_pubkey must be 64 lowercase hex characters")
	case !protocol.IsHexSig(p.Signature):
		return errors.New("invite signature must be 128 lowercase hex characters")
	}
	// A '|' inside a free-form field would let someone move text across a
	// separator and keep the same canonical string, hence the same signature.
	for _, f := range [...]struct{ name, val string }{
		{"mesh_id", p.MeshID}, {"mesh_slug", p.MeshSlug}, {"broker_url", p.BrokerURL},
	} {
		if strings.Contains(f.val, "|") {
			return fmt.Errorf("invite %s must not contain '|'", f.name)
		}
		// JSON turns invalid UTF-8 into U+FFFD, so the token would carry
		// other bytes than the ones signed, and never verify.
		if !utf8.ValidString(f.val) {
			return fmt.Errorf("invite %s is not valid UTF-8", f.name)
		}
	}
	if err := v1BrokerURLError(p.BrokerURL); err != nil {
		return err
	}
	key, err := protocol.DecodeB64URL(p.MeshRootKey)
	if err != nil {
		return fmt.Errorf("invite mesh_root_key: %w", err)
	}
	if len(key) != protocol.RootKeySize {
		return fmt.Errorf("invite mesh_root_key must decode to %d bytes, got %d", protocol.RootKeySize, len(key))
	}
	return nil
}

func v1BrokerURLError(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("invite broker_url is not a URL: %w", err)
	}
	if (u.Scheme != "ws" && u.Scheme != "wss") || u.Host == "" {
		return fmt.Errorf("invite broker_url must be a ws:// or wss:// URL, got %q", s)
	}
	return nil
}

// EncodeV1Token returns base64url (no padding) of the payload's JSON. The
// JSON matches JavaScript's JSON.stringify for these fields: HTML escaping
// is off, since Go would otherwise turn '&' in a broker URL into \u0026.
func EncodeV1Token(p V1Payload) (string, error) {
	if err := p.Validate(); err != nil {
		return "", err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(p); err != nil {
		return "", fmt.Errorf("encode invite: %w", err)
	}
	token := protocol.EncodeB64URL(bytes.TrimSuffix(buf.Bytes(), []byte("\n")))
	if len(token) > MaxV1TokenLen {
		// DecodeV1Token and ParseV1Link refuse it: never hand one out.
		return "", fmt.Errorf("invite token would be %d characters, more than the %d allowed: shorten the mesh slug or broker URL", len(token), MaxV1TokenLen)
	}
	return token, nil
}

// v1Fields lists the JSON keys of a v1 payload, all required.
var v1Fields = []string{"v", "mesh_id", "mesh_slug", "broker_url", "expires_at", "mesh_root_key", "role", "owner_pubkey", "signature"}

// DecodeV1Token decodes and validates a v1 token. It is strict: one
// base64url spelling, one JSON object with exactly the nine fields (no
// duplicates, no extras, no nulls), each well-shaped. It does not verify
// the signature: call VerifySignature.
func DecodeV1Token(token string) (V1Payload, error) {
	var p V1Payload
	if token == "" {
		return p, errors.New("invite token is empty")
	}
	if len(token) > MaxV1TokenLen {
		return p, fmt.Errorf("invite token is %d characters, more than the %d allowed", len(token), MaxV1TokenLen)
	}
	raw, err := protocol.DecodeB64URL(token)
	if err != nil {
		return p, fmt.Errorf("invite token: %w", err)
	}
	fields, err := v1Object(raw)
	if err != nil {
		return p, err
	}
	targets := map[string]any{
		"v": &p.V, "mesh_id": &p.MeshID, "mesh_slug": &p.MeshSlug, "broker_url": &p.BrokerURL,
		"expires_at": &p.ExpiresAt, "mesh_root_key": &p.MeshRootKey, "role": &p.Role,
		"owner_pubkey": &p.OwnerPubkey, "signature": &p.Signature,
	}
	for _, name := range v1Fields {
		val, ok := fields[name]
		if !ok {
			return p, fmt.Errorf("invite token has no %s field", name)
		}
		if err := v1Field(name, val, targets[name]); err != nil {
			return p, err
		}
	}
	if err := p.Validate(); err != nil {
		return p, err
	}
	return p, nil
}

// v1Object splits a JSON object into its raw members, refusing duplicate or
// unknown keys (Go's decoder would silently keep the last duplicate, and an
// unsigned extra field is a sign of tampering) and trailing data.
func v1Object(raw []byte) (map[string]json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, errors.New("invite token is not a JSON object")
	}
	known := make(map[string]bool, len(v1Fields))
	for _, f := range v1Fields {
		known[f] = true
	}
	fields := make(map[string]json.RawMessage, len(v1Fields))
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("invite token JSON: %w", err)
		}
		key, _ := tok.(string) // object keys are always strings
		if !known[key] {
			return nil, fmt.Errorf("invite token has unknown field %q", key)
		}
		if _, dup := fields[key]; dup {
			return nil, fmt.Errorf("invite token repeats field %q", key)
		}
		var val json.RawMessage
		if err := dec.Decode(&val); err != nil {
			return nil, fmt.Errorf("invite token JSON: %w", err)
		}
		fields[key] = val
	}
	if _, err := dec.Token(); err != nil {
		return nil, fmt.Errorf("invite token JSON: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("invite token has data after the JSON object")
	}
	return fields, nil
}

// v1Field decodes one member, refusing null and type mismatches (plain
// json.Unmarshal would leave the target unchanged on null).
func v1Field(name string, val json.RawMessage, target any) error {
	if string(val) == "null" {
		return fmt.Errorf("invite %s is null", name)
	}
	if err := json.Unmarshal(val, target); err != nil {
		kind := "a string"
		if _, isString := target.(*string); !isString {
			kind = "an integer"
		}
		return fmt.Errorf("invite %s must be %s, got %s", name, kind, v1Snippet(string(val), 40))
	}
	return nil
}

func v1Snippet(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// ParseV1Link extracts the token from ic://join/<token> or
// http(s)://host[/prefix]/join/<token> (the prefix allows a broker behind
// a path-routing proxy). The token is checked for its alphabet only; decode
// it with DecodeV1Token.
func ParseV1Link(link string) (token string, err error) {
	link = strings.TrimSpace(link)
	if len(link) > MaxV1TokenLen+1024 {
		return "", errors.New("invite link is too long")
	}
	u, err := url.Parse(link)
	if err != nil {
		return "", fmt.Errorf("invite link is not a URL: %w", err)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return "", errors.New("invite link must not carry a query, fragment or user info")
	}
	path := u.EscapedPath()
	switch u.Scheme {
	case "ic":
		if u.Host != "join" {
			return "", errors.New("invite link must look like ic://join/<token>")
		}
		token = strings.TrimPrefix(path, "/")
	case "http", "https":
		i := strings.LastIndex(path, "/join/")
		if u.Host == "" || i < 0 {
			return "", errors.New("invite link must look like https://<host>/join/<token>")
		}
		token = path[i+len("/join/"):]
	default:
		return "", fmt.Errorf("invite link scheme must be ic, http or https, got %q", u.Scheme)
	}
	if token == "" {
		return "", errors.New("invite link has no token")
	}
	if len(token) > MaxV1TokenLen {
		return "", fmt.Errorf("invite token is %d characters, more than the %d allowed", len(token), MaxV1TokenLen)
	}
	for i := 0; i < len(token); i++ {
		if !isV1TokenChar(token[i]) {
			return "", fmt.Errorf("invite token has a character outside base64url at position %d", i)
		}
	}
	return token, nil
}

func isV1TokenChar(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_'
}

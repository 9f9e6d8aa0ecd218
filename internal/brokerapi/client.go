// Package brokerapi is the typed client of the broker's HTTP API
// (docs/http-api.md): mesh creation, signed admin requests, and the public
// invite routes. The CLI uses it; errors carry the broker's code and message
// verbatim so the user sees what the broker said.
package brokerapi

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/claudemesh/claudemesh/internal/protocol"
)

// ErrUnreachable wraps every failure to get an HTTP answer at all.
var ErrUnreachable = errors.New("broker unreachable")

// Error is a broker answer with an error status, in the broker's words.
type Error struct {
	Status  int
	Code    string // "exhausted", "forbidden", ... (invites.md error table)
	Message string
}

func (e *Error) Error() string {
	if e.Message == "" {
		return fmt.Sprintf("broker answered %d %s", e.Status, e.Code)
	}
	return fmt.Sprintf("%s (%s)", e.Message, e.Code)
}

// Refused reports an authentication or invite refusal (exit code 3), as
// opposed to a broker fault or a bad request.
func (e *Error) Refused() bool {
	switch e.Code {
	case "unauthenticated", "forbidden", "revoked", "expired", "exhausted", "bad_signature",
		"invite_bad_signature", "invite_expired", "invite_revoked", "invite_exhausted", "invite_not_found", "invite_mismatch":
		return true
	}
	return e.Status == http.StatusNotFound
}

// Client talks to one broker. Signer, when set, signs admin requests.
type Client struct {
	Base   string // http(s)://host:port, no trailing slash
	HTTP   *http.Client
	Signer ed25519.PrivateKey
	Now    func() time.Time
	// AdminToken is sent as a bearer token on POST /meshes when set.
	AdminToken string
}

// New returns a client for base (ws:// and wss:// are accepted and mapped
// to http:// and https://, since configs store the URL the user typed).
func New(base string) (*Client, error) {
	u, err := url.Parse(strings.TrimSpace(base))
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("broker URL %q is not an absolute URL like http://host:7900", base)
	}
	if strings.Trim(u.Host, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_:[]") != "" {
		// url.Parse unescapes %XX and keeps raw bytes in hosts; String()
		// re-escapes them, so Base would not name the host it was made from.
		return nil, fmt.Errorf("broker URL %q: the host must be ASCII (an IP address or a punycode xn-- name)", base)
	}
	switch u.Scheme {
	case "http", "https":
	case "ws":
		u.Scheme = "http"
	case "wss":
		u.Scheme = "https"
	default:
		return nil, fmt.Errorf("broker URL %q must start with http://, https://, ws:// or wss://", base)
	}
	u.Path = strings.TrimSuffix(strings.TrimSuffix(u.Path, "/"), "/ws")
	u.RawQuery, u.Fragment = "", ""
	return &Client{Base: u.String(), HTTP: &http.Client{Timeout: 15 * time.Second}, Now: time.Now}, nil
}

// do sends one request and decodes a 2xx JSON answer into out.
func (c *Client) do(ctx context.Context, method, path string, body any, signed bool, out any) error {
	var raw []byte
	if body != nil {
		var err error
		if raw, err = json.Marshal(body); err != nil {
			return err
		}
	}
	req, err := http.NewRequestWithContext(ctx, method, c.Base+path, bytes.NewReader(raw))
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if signed {
		if c.Signer == nil {
			return errors.New("this request must be signed by an admin key, and none was given")
		}
		req.Header.Set("Authorization", c.signature(method, req.URL.RequestURI(), raw))
	}
	if c.AdminToken != "" && method == http.MethodPost && path == "/meshes" {
		req.Header.Set("Authorization", "Bearer "+c.AdminToken)
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return fmt.Errorf("%w at %s: %w", ErrUnreachable, c.Base, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("%w at %s: reading the answer: %w", ErrUnreachable, c.Base, err)
	}
	if resp.StatusCode/100 != 2 {
		return decodeError(resp.StatusCode, data)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("the broker at %s answered %s %s with a body that is not the expected JSON: %w", c.Base, method, path, err)
	}
	return nil
}

// signature builds `Claudemesh-Sig pubkey=..,ts=..,sig=..` over
// METHOD\nPATH\nts\nhex(sha256(body)) (invites.md §2).
func (c *Client) signature(method, pathQuery string, body []byte) string {
	ts := strconv.FormatInt(c.Now().UnixMilli(), 10)
	sum := sha256.Sum256(body)
	msg := method + "\n" + pathQuery + "\n" + ts + "\n" + hex.EncodeToString(sum[:])
	pub := hex.EncodeToString(c.Signer.Public().(ed25519.PublicKey))
	return "Claudemesh-Sig pubkey=" + pub + ",ts=" + ts + ",sig=" + protocol.SignHex(c.Signer, msg)
}

// decodeError reads both error shapes: invites.md's {"error","message"} and
// the v1 join's {"ok":false,"error","message"}.
func decodeError(status int, data []byte) error {
	var body struct {
		Error   string `json:"error"`
		Message string `json:"message"`
	}
	if json.Unmarshal(data, &body) != nil || body.Error == "" {
		if status == http.StatusNotFound && strings.Contains(string(data), `"found":false`) {
			return &Error{Status: status, Code: "not_found", Message: "no live v1 invite has this code"}
		}
		snippet := strings.TrimSpace(string(data))
		if len(snippet) > 200 {
			snippet = snippet[:200] + "..."
		}
		return &Error{Status: status, Code: http.StatusText(status), Message: snippet}
	}
	return &Error{Status: status, Code: body.Error, Message: body.Message}
}

// Package meshsetup creates a benchmark mesh the way a real owner and real
// joiners do: POST /meshes signed by the owner key, a multi-use v2 invite
// minted through a signed admin request, and one claim per member.
package meshsetup

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/claudemesh/claudemesh/internal/protocol"
)

// Client talks to the broker's HTTP API.
type Client struct {
	BaseURL    string // http://host:port
	AdminToken string // Bearer token for POST /meshes when the broker has one
	HTTP       *http.Client
}

// NewClient returns a client whose connection pool fits concurrency
// parallel requests, so claims do not open a fresh TCP connection each.
func NewClient(baseURL, adminToken string, concurrency int) *Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns = concurrency * 2
	tr.MaxIdleConnsPerHost = concurrency * 2
	return &Client{BaseURL: strings.TrimRight(baseURL, "/"), AdminToken: adminToken,
		HTTP: &http.Client{Transport: tr, Timeout: 60 * time.Second}}
}

// APIError is a non-2xx answer in the broker's one error shape.
type APIError struct {
	Op      string
	Status  int
	Code    string `json:"error"`
	Message string `json:"message"`
}

func (e *APIError) Error() string {
	s := fmt.Sprintf("%s: HTTP %d %s: %s", e.Op, e.Status, e.Code, e.Message)
	switch {
	case e.Status == http.StatusTooManyRequests:
		s += " (claims share the broker's HTTP_RATE_LIMIT_PER_MIN; raise it for the benchmark, or use --spawn)"
	case e.Status == http.StatusForbidden && strings.HasPrefix(e.Op, "POST /meshes"):
		s += " (run meshload on the broker's machine, or pass --admin-token)"
	}
	return s
}

// do sends body as JSON and decodes a 2xx answer into out.
func (c *Client) do(ctx context.Context, op, method, path string, header http.Header, body []byte, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, c.BaseURL+path, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, vs := range header {
		req.Header[k] = vs
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("%s: reading the answer: %w", op, err)
	}
	if resp.StatusCode/100 != 2 {
		e := &APIError{Op: op, Status: resp.StatusCode}
		if json.Unmarshal(data, e) != nil || e.Code == "" {
			e.Code, e.Message = "http_"+strconv.Itoa(resp.StatusCode), strings.TrimSpace(string(data))
		}
		return e
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%s: decoding %q: %w", op, data, err)
	}
	return nil
}

// adminHeader signs METHOD\nPATH\nts\nhex(sha256(body)) with key
// (invites.md §2). Each header is used once: the broker refuses replays.
func adminHeader(key ed25519.PrivateKey, method, path string, body []byte) http.Header {
	ts := time.Now().UnixMilli()
	sum := sha256.Sum256(body)
	canonical := method + "\n" + path + "\n" + strconv.FormatInt(ts, 10) + "\n" + hex.EncodeToString(sum[:])
	pub := hex.EncodeToString(key.Public().(ed25519.PublicKey))
	h := http.Header{}
	h.Set("Authorization", fmt.Sprintf("Claudemesh-Sig pubkey=%s,ts=%d,sig=%s", pub, ts, protocol.SignHex(key, canonical)))
	return h
}

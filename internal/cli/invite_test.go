package cli

import (
	"bytes"
	"strings"
	"testing"

	"github.com/claudemesh/claudemesh/internal/brokerapi"
	"github.com/claudemesh/claudemesh/internal/cliconfig"
	"github.com/claudemesh/claudemesh/internal/invite"
)

// TestQRCodeOnlyOnATerminal prints a minted invite twice: a terminal gets
// the QR block, a pipe only the text.
func TestQRCodeOnlyOnATerminal(t *testing.T) {
	t.Cleanup(func() { stdoutIsTerminal = isTerminal })
	m := &cliconfig.Mesh{Slug: "platform", BrokerURL: "http://127.0.0.1:7900"}
	inv := brokerapi.MintedInvite{InviteID: "inv_1", Code: "Ab3dE6gH", URL: "http://127.0.0.1:7900/i/Ab3dE6gH#0123456789abcdef0123",
		Role: "member", MaxUses: 1, ExpiresAt: 1900000000}
	for _, tty := range []bool{true, false} {
		stdoutIsTerminal = func(any) bool { return tty }
		var out bytes.Buffer
		a := &App{Stdout: &out, Stderr: &out, Getenv: func(string) string { return "" }}
		if err := a.printMinted(m, inv, inviteOpts{role: "member"}); err != nil {
			t.Fatal(err)
		}
		blocks := strings.Count(out.String(), "█")
		if !strings.Contains(out.String(), inv.URL) || (tty && blocks < 50) || (!tty && blocks != 0) {
			t.Fatalf("tty=%v: %d full blocks in\n%s", tty, blocks, out.String())
		}
	}
}

func TestOwnerSignedLinkSetsTheFingerprintItself(t *testing.T) {
	owner := strings.Repeat("ab", 32)
	fp, _ := invite.OwnerFingerprint(owner)
	cases := []struct {
		name, link, want, errPart string
	}{
		{"broker's own fragment replaced", "https://mesh.example/i/Abc12345#0000000000000000dead", "https://mesh.example/i/Abc12345#" + fp, ""},
		{"no fragment", "http://127.0.0.1:7900/i/Abc12345", "http://127.0.0.1:7900/i/Abc12345#" + fp, ""},
		{"under a path prefix", "https://h/mesh/i/Abc12345", "https://h/mesh/i/Abc12345#" + fp, ""},
		{"another code", "https://h/i/Zzz99999#" + fp, "", "does not name the minted code"},
		{"not http", "ic://join/xyz", "", "not an http(s) URL"},
	}
	for _, c := range cases {
		got, err := ownerSignedLink(c.link, "Abc12345", owner)
		if c.errPart != "" {
			if err == nil || !strings.Contains(err.Error(), c.errPart) {
				t.Errorf("%s: want error %q, got %q, %v", c.name, c.errPart, got, err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%s: got %q, %v; want %q", c.name, got, err, c.want)
		}
	}
}

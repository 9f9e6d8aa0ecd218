package cli

import (
	"bytes"
	"strings"
	"testing"

	"github.com/claudemesh/claudemesh/internal/brokerapi"
	"github.com/claudemesh/claudemesh/internal/cliconfig"
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

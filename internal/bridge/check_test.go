package bridge

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"strings"
	"testing"

	"github.com/claudemesh/claudemesh/internal/cliconfig"
	"github.com/claudemesh/claudemesh/internal/client"
	"github.com/claudemesh/claudemesh/internal/protocol"
)

// offlineLink is a link whose client never connected.
func offlineLink(t *testing.T, b *Bridge) *link {
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	c, err := client.New(client.Config{BrokerURL: "http://127.0.0.1:1", MeshID: "mesh_1", MemberID: "mem_1", MemberKey: key})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &link{b: b, mesh: cliconfig.Mesh{MeshID: "mesh_1", Slug: "platform"}, c: c}
}

func TestCancelledCheckMessagesPutsMessagesBack(t *testing.T) {
	b := &Bridge{}
	l := offlineLink(t, b)
	b.links = []*link{l}
	b.inbox.add(l, protocol.Push{MessageID: "msg_1", SenderName: "olivia", Enc: protocol.EncPlain, Ciphertext: protocol.EncodePlain([]byte("hi"))})

	ctx, cancel := context.WithCancel(context.Background())
	cancel() // Claude Code cancelled the call (Esc)
	if _, err := b.toolCheckMessages(ctx, nil); err == nil {
		t.Fatal("a cancelled check_messages returned a result nobody reads")
	}
	if n, _ := b.inbox.summary(); n != 1 {
		t.Fatalf("inbox holds %d message(s) after the cancelled call, want the 1 taken", n)
	}
	out, err := b.toolCheckMessages(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"from olivia", "│ hi", "not connected"} {
		if !strings.Contains(out, want) {
			t.Errorf("check_messages = %q, want %q in it", out, want)
		}
	}
	if n, _ := b.inbox.summary(); n != 0 {
		t.Errorf("inbox still holds %d message(s) after they were returned", n)
	}
}

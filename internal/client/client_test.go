package client_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/claudemesh/claudemesh/internal/client"
	"github.com/claudemesh/claudemesh/internal/protocol"
)

func TestDirectMessageRoundTripWithBox(t *testing.T) {
	e := newEnv(t)
	var aliceIn, bobIn inbox
	alice := e.run(e.config(e.addMember("alice"), aliceIn.handle))
	bob := e.run(e.config(e.addMember("bob"), bobIn.handle))

	peers, err := alice.ListPeers(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	var bobAddr string
	for _, p := range peers {
		if p.DisplayName == "bob" {
			bobAddr = p.Pubkey
		}
	}
	if bobAddr != bob.RoutingPubkey() {
		t.Fatalf("bob's address in list_peers = %q, want his session pubkey %q", bobAddr, bob.RoutingPubkey())
	}
	env, err := alice.SealDirect([]byte("hi bob"), bobAddr)
	if err != nil {
		t.Fatal(err)
	}
	ack, err := alice.Send(ctx(t), client.Outgoing{To: []string{bobAddr}, Priority: protocol.PriorityNow, Envelope: env})
	if err != nil || ack.MessageID == "" || ack.Recipients != 1 {
		t.Fatalf("send = %+v, %v", ack, err)
	}
	got := bobIn.waitN(t, 1)[0]
	if got.MessageID != ack.MessageID || got.Enc != protocol.EncBox || got.SenderPubkey != alice.RoutingPubkey() {
		t.Fatalf("push = %+v", got)
	}
	pt, err := bob.Open(&got, nil)
	if err != nil || string(pt) != "hi bob" {
		t.Fatalf("open = %q, %v", pt, err)
	}

	// Reply to senderPubkey, as a DM reply does.
	env, _ = bob.SealDirect([]byte("hi alice"), got.SenderPubkey)
	if _, err := bob.Send(ctx(t), client.Outgoing{To: []string{got.SenderPubkey}, Envelope: env}); err != nil {
		t.Fatal(err)
	}
	back := aliceIn.waitN(t, 1)[0]
	if pt, err := alice.Open(&back, nil); err != nil || string(pt) != "hi alice" {
		t.Fatalf("open reply = %q, %v", pt, err)
	}
	// The handler accepted it, so the client acked it: the row is delivered.
	waitFor(t, "delivered status", func() bool {
		st, err := alice.MessageStatus(ctx(t), ack.MessageID)
		return err == nil && st.Delivered
	})

	// A third party's key cannot open it: an explicit error, never garbage.
	carol := e.dial(e.config(e.addMember("carol"), nil))
	if pt, err := carol.Open(&got, nil); !errors.Is(err, protocol.ErrDecrypt) || pt != nil {
		t.Fatalf("carol opening bob's DM = %q, %v; want ErrDecrypt", pt, err)
	}
}

func TestBroadcastWithSecretbox(t *testing.T) {
	e := newEnv(t)
	var bobIn, carolIn inbox
	alice := e.dial(e.config(e.addMember("alice"), nil))
	bob := e.run(e.config(e.addMember("bob"), bobIn.handle))
	e.run(e.config(e.addMember("carol"), carolIn.handle))

	env, err := client.SealGroup([]byte("hello mesh"), e.meshKey())
	if err != nil {
		t.Fatal(err)
	}
	ack, err := alice.Send(ctx(t), client.Outgoing{To: []string{"*"}, Priority: protocol.PriorityNow, Envelope: env})
	if err != nil || ack.Recipients < 2 {
		t.Fatalf("send = %+v, %v", ack, err)
	}
	for name, in := range map[string]*inbox{"bob": &bobIn, "carol": &carolIn} {
		p := in.waitN(t, 1)[0]
		if p.Kind != protocol.KindBroadcast || p.Enc != protocol.EncSecretbox {
			t.Fatalf("%s got %+v", name, p)
		}
		if pt, err := bob.Open(&p, e.meshKey()); err != nil || string(pt) != "hello mesh" {
			t.Fatalf("%s open = %q, %v", name, pt, err)
		}
	}
	p := bobIn.messages()[0]
	other, _ := client.MeshKey(make([]byte, 32), e.mesh.ID)
	if _, err := bob.Open(&p, other); !errors.Is(err, protocol.ErrDecrypt) || !strings.Contains(err.Error(), p.MessageID) {
		t.Fatalf("wrong mesh key: %v", err)
	}
	if _, err := bob.Open(&p, nil); !errors.Is(err, protocol.ErrDecrypt) {
		t.Fatalf("no mesh key: %v", err)
	}
}

func TestRefusedHelloIsBrokerError(t *testing.T) {
	e := newEnv(t)
	cfg := e.config(e.addMember("alice"), nil)
	cfg.MemberID = e.addMember("bob").ID // alice's key, bob's id: not a member with this pubkey
	_, err := client.Dial(ctx(t), cfg)
	var be *client.BrokerError
	if !errors.As(err, &be) || be.Code != protocol.CodeUnauthorized || be.Message == "" || !be.Fatal() {
		t.Fatalf("err = %#v, want BrokerError unauthorized", err)
	}
	if errors.Is(err, client.ErrUnreachable) {
		t.Fatal("a refusal must not look like a network failure")
	}
}

func TestUnreachableBroker(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cfg := client.Config{BrokerURL: "http://" + addr, MeshID: "m", MemberID: "x", MemberKey: newKey(), Logger: logger()}
	_, err = client.Dial(ctx(t), cfg)
	if !errors.Is(err, client.ErrUnreachable) {
		t.Fatalf("err = %v, want ErrUnreachable", err)
	}
}

// silentBroker acks every hello and then never answers anything: the only
// way to make a broker silent. It counts the hellos it got.
func silentBroker(t *testing.T) (string, *atomic.Int64) {
	var hellos atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer ws.CloseNow()
		if _, _, err := ws.Read(r.Context()); err != nil {
			return
		}
		hellos.Add(1)
		ws.Write(r.Context(), websocket.MessageText, []byte(`{"type":"hello_ack","presenceId":"p1","protocol":2}`))
		for {
			if _, _, err := ws.Read(r.Context()); err != nil {
				return
			}
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL, &hellos
}

// An RPC without a reply fails with an error naming the missing reply,
// never with an empty result.
func TestRPCTimeoutNamesTheReply(t *testing.T) {
	url, _ := silentBroker(t)
	cfg := client.Config{BrokerURL: url, MeshID: "m", MemberID: "x", MemberKey: newKey(), Logger: logger(), RPCTimeout: 100 * time.Millisecond}
	c, err := client.Dial(ctx(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	peers, err := c.ListPeers(ctx(t))
	if !errors.Is(err, client.ErrTimeout) || err.Error() != "timed out waiting for list_peers reply after 100ms" || peers != nil {
		t.Fatalf("ListPeers = %v, %v", peers, err)
	}
	if _, err := c.Send(ctx(t), client.Outgoing{To: []string{"*"}, Envelope: client.SealPlain([]byte("x"))}); !errors.Is(err, client.ErrTimeout) ||
		!strings.Contains(err.Error(), "timed out waiting for send reply") {
		t.Fatalf("Send err = %v", err)
	}
	if _, _, err := c.FetchPending(ctx(t)); !strings.Contains(fmt.Sprint(err), "timed out waiting for fetch_pending reply") {
		t.Fatalf("FetchPending err = %v", err)
	}
}

// A connection whose pings go unanswered is dropped and redialled.
func TestUnansweredPingReconnects(t *testing.T) {
	url, hellos := silentBroker(t)
	c, err := client.New(client.Config{BrokerURL: url, MeshID: "m", MemberID: "x", MemberKey: newKey(), Logger: logger(),
		PingInterval: 20 * time.Millisecond, RPCTimeout: 50 * time.Millisecond, BackoffMin: time.Millisecond, BackoffMax: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- c.Run(context.Background()) }()
	waitFor(t, "a second hello after a failed ping", func() bool { return hellos.Load() >= 2 })
	c.Close()
	if err := <-done; !errors.Is(err, client.ErrClosed) {
		t.Fatalf("Run after Close = %v", err)
	}
}

func TestBrokerErrorFromRPC(t *testing.T) {
	e := newEnv(t)
	alice := e.dial(e.config(e.addMember("alice"), nil))
	_, err := alice.Send(ctx(t), client.Outgoing{To: []string{"nobody-by-that-name"}, Envelope: client.SealPlain([]byte("x"))})
	var be *client.BrokerError
	if !errors.As(err, &be) || be.Code != protocol.CodeNoSuchPeer || be.Op != "send" {
		t.Fatalf("err = %v, want no_such_peer", err)
	}
	r, err := alice.Request(ctx(t), map[string]any{"type": "set_state", "key": "k", "value": 1})
	if err != nil || r["type"] != "ok" {
		t.Fatalf("set_state = %v, %v", r, err)
	}
	if err := alice.SetStatus(ctx(t), "bogus", ""); !errors.As(err, &be) {
		t.Fatalf("bad status err = %v", err)
	}
}

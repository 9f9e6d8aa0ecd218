package client_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/claudemesh/claudemesh/internal/client"
	"github.com/claudemesh/claudemesh/internal/protocol"
)

func newKey() ed25519.PrivateKey {
	_, k, _ := ed25519.GenerateKey(rand.Reader)
	return k
}

// sendPlain sends text to target and returns the messageId.
func sendPlain(t *testing.T, c *client.Client, target, text string) string {
	t.Helper()
	ack, err := c.Send(ctx(t), client.Outgoing{To: []string{target}, Priority: protocol.PriorityNow, Envelope: client.SealPlain([]byte(text))})
	if err != nil {
		t.Fatalf("send %q: %v", text, err)
	}
	return ack.MessageID
}

func TestRedeliveredPushIsHandledOnce(t *testing.T) {
	e := newEnv(t)
	var bobIn inbox
	alice := e.dial(e.config(e.addMember("alice"), nil))
	bob := e.run(e.config(e.addMember("bob"), bobIn.handle))

	// The handler takes the message but the ack is lost; the resumed
	// session gets it pushed again.
	client.DropAcks(bob.Client, true)
	id := sendPlain(t, alice, bob.RoutingPubkey(), "once")
	bobIn.waitN(t, 1)
	client.DropAcks(bob.Client, false)
	client.KillConn(bob.Client)
	waitFor(t, "resume", func() bool { return bob.HelloAck().Resumed })

	// The dedup re-acks the redelivery, so the row becomes delivered
	// without the handler seeing it twice.
	waitFor(t, "delivered after re-ack", func() bool {
		st, err := alice.MessageStatus(ctx(t), id)
		return err == nil && st.Delivered
	})
	sendPlain(t, alice, bob.RoutingPubkey(), "twice")
	msgs := bobIn.waitN(t, 2)
	if len(msgs) != 2 || msgs[0].MessageID != id || string(msgs[1].Ciphertext) != protocol.EncodePlain([]byte("twice")) {
		t.Fatalf("handler saw %d messages: %+v", len(msgs), msgs)
	}
}

func TestResumeAfterBrokerRestartDeliversQueuedMail(t *testing.T) {
	e := newEnv(t)
	var bobIn inbox
	bobMember := e.addMember("bob")
	aliceMember := e.addMember("alice")
	hold := make(chan struct{})
	var holding atomic.Bool
	bob := e.run(e.config(bobMember, bobIn.handle), func(c *client.Client) {
		client.SetDialGate(c, func(ctx context.Context) error {
			if !holding.Load() {
				return nil
			}
			select {
			case <-hold:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
	})
	session := bob.SessionID()
	firstPresence := bob.HelloAck().PresenceID

	holding.Store(true) // bob stays offline until released
	e.restart()

	alice := e.dial(e.config(aliceMember, nil))
	var ids []string
	for i := range 3 {
		ids = append(ids, sendPlain(t, alice, fmt.Sprintf("%x", bobMember.key.Public()), fmt.Sprintf("queued %d", i)))
	}
	close(hold)

	msgs := bobIn.waitN(t, 3)
	for i, m := range msgs {
		if m.MessageID != ids[i] {
			t.Fatalf("message %d = %s, want %s (in send order)", i, m.MessageID, ids[i])
		}
	}
	if bob.SessionID() != session || bob.HelloAck().PresenceID == firstPresence {
		t.Fatalf("session %q -> %q, presence %q -> %q", session, bob.SessionID(), firstPresence, bob.HelloAck().PresenceID)
	}
	// The session kept its key: a DM to it still reaches and opens.
	env, _ := alice.SealDirect([]byte("after restart"), bob.RoutingPubkey())
	if _, err := alice.Send(ctx(t), client.Outgoing{To: []string{bob.RoutingPubkey()}, Envelope: env, Priority: "now"}); err != nil {
		t.Fatal(err)
	}
	last := bobIn.waitN(t, 4)[3]
	if pt, err := bob.Open(&last, nil); err != nil || string(pt) != "after restart" {
		t.Fatalf("open = %q, %v", pt, err)
	}
}

func TestRunStopsAfterRevocation(t *testing.T) {
	e := newEnv(t)
	bobMember := e.addMember("bob")
	bob := e.run(e.config(bobMember, (&inbox{}).handle))
	if _, err := e.srv.Store.RevokeMember(context.Background(), e.mesh.ID, bobMember.ID, time.Now()); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-bob.done:
		var be *client.BrokerError
		if !errors.As(err, &be) || be.Code != protocol.CodeUnauthorized {
			t.Fatalf("Run = %v, want unauthorized", err)
		}
		bob.done <- err // for the cleanup
	case <-time.After(10 * time.Second):
		t.Fatal("Run still retrying 10 s after revocation")
	}
	if _, err := bob.ListPeers(ctx(t)); !errors.As(err, new(*client.BrokerError)) {
		t.Fatalf("RPC after Run gave up = %v, want the fatal error", err)
	}
}

func TestEphemeralFetchPendingAndAck(t *testing.T) {
	e := newEnv(t)
	aliceMember, bobMember := e.addMember("alice"), e.addMember("bob")
	alice := e.dial(e.config(aliceMember, nil))
	bobPub := fmt.Sprintf("%x", bobMember.key.Public())
	id := sendPlain(t, alice, bobPub, "for the inbox")

	inboxCfg := e.config(bobMember, nil)
	inboxCfg.SessionKey, inboxCfg.Ephemeral = nil, true
	bob := e.dial(inboxCfg)
	got, n, err := bob.FetchPending(ctx(t))
	if err != nil || n != 1 || len(got) != 1 || got[0].MessageID != id {
		t.Fatalf("fetch = %+v, %d, %v", got, n, err)
	}
	if pt, err := bob.Open(&got[0], nil); err != nil || string(pt) != "for the inbox" {
		t.Fatalf("open = %q, %v", pt, err)
	}
	if err := bob.Ack(ctx(t), id); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "delivered", func() bool {
		st, err := alice.MessageStatus(ctx(t), id)
		return err == nil && st.Delivered
	})
	if got, n, err := bob.FetchPending(ctx(t)); err != nil || n != 0 || len(got) != 0 {
		t.Fatalf("second fetch = %+v, %d, %v", got, n, err)
	}
}

func TestSystemEventsReachHandlerUnacked(t *testing.T) {
	e := newEnv(t)
	var aliceIn inbox
	e.run(e.config(e.addMember("alice"), aliceIn.handle))
	e.run(e.config(e.addMember("bob"), nil))
	waitFor(t, "peer_joined", func() bool {
		aliceIn.mu.Lock()
		defer aliceIn.mu.Unlock()
		for _, ev := range aliceIn.events {
			if ev.Event == protocol.EventPeerJoined {
				return true
			}
		}
		return false
	})
	if len(aliceIn.messages()) != 0 {
		t.Fatalf("system events counted as messages: %+v", aliceIn.messages())
	}
}

func TestPingsKeepTheSessionOnARealBroker(t *testing.T) {
	e := newEnv(t)
	cfg := e.config(e.addMember("alice"), nil)
	cfg.PingInterval = 10 * time.Millisecond
	alice := e.run(cfg)
	presence := alice.HelloAck().PresenceID
	waitFor(t, "three pongs", func() bool { return client.Pongs(alice.Client) >= 3 })
	if alice.HelloAck().PresenceID != presence {
		t.Fatal("the client reconnected although the broker answered its pings")
	}
}

func TestRPCWhileOfflineTimesOutSayingSo(t *testing.T) {
	e := newEnv(t)
	cfg := e.config(e.addMember("alice"), nil)
	cfg.RPCTimeout = 50 * time.Millisecond
	c, err := client.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	client.SetDialGate(c, func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() })
	done := make(chan error, 1)
	go func() { done <- c.Run(context.Background()) }()
	_, err = c.ListMembers(ctx(t))
	if !errors.Is(err, client.ErrTimeout) || err.Error() != "timed out waiting for list_members reply after 50ms (not connected to the broker)" {
		t.Fatalf("err = %v", err)
	}
	c.Close()
	if err := <-done; !errors.Is(err, client.ErrClosed) {
		t.Fatalf("Run = %v", err)
	}
}

func TestKeptPushStaysUnackedUntilAck(t *testing.T) {
	e := newEnv(t)
	var kept []string
	var mu sync.Mutex
	keep := func(_ context.Context, ev client.Event) error {
		if ev.Push == nil || ev.Push.Subtype == "system" {
			return nil
		}
		mu.Lock()
		kept = append(kept, ev.Push.MessageID)
		mu.Unlock()
		return client.ErrKeep
	}
	keptIDs := func() []string { mu.Lock(); defer mu.Unlock(); return append([]string(nil), kept...) }
	alice := e.dial(e.config(e.addMember("alice"), nil))
	bob := e.run(e.config(e.addMember("bob"), keep))

	id := sendPlain(t, alice, bob.RoutingPubkey(), "read me later")
	waitFor(t, "the handler keeps it", func() bool { return len(keptIDs()) == 1 })
	// A resume pushes the unacked message again: it is neither handed over
	// a second time nor acked behind the owner's back.
	client.KillConn(bob.Client)
	waitFor(t, "resume", func() bool { return bob.HelloAck().Resumed })
	// The redelivery is pushed before anything newer, so once a second
	// message arrives the first one has come back and been dropped.
	id2 := sendPlain(t, alice, bob.RoutingPubkey(), "and me")
	waitFor(t, "the second message", func() bool { return len(keptIDs()) >= 2 })
	if got := keptIDs(); len(got) != 2 || got[0] != id || got[1] != id2 {
		t.Fatalf("handler saw %v; want each message once: %s, %s", got, id, id2)
	}
	st, err := alice.MessageStatus(ctx(t), id)
	if err != nil || st.Delivered {
		t.Fatalf("kept message status = %+v, %v; want still pending", st, err)
	}
	if err := bob.Ack(ctx(t), id); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "delivered after Ack", func() bool {
		st, err := alice.MessageStatus(ctx(t), id)
		return err == nil && st.Delivered
	})
}

func TestAckWhileOfflineCountsOnceTheSessionResumes(t *testing.T) {
	e := newEnv(t)
	var mu sync.Mutex
	var seen []string
	keep := func(_ context.Context, ev client.Event) error {
		if ev.Push == nil || ev.Push.Subtype == "system" {
			return nil
		}
		mu.Lock()
		seen = append(seen, ev.Push.MessageID)
		mu.Unlock()
		return client.ErrKeep
	}
	alice := e.dial(e.config(e.addMember("alice"), nil))
	gate := make(chan struct{})
	var gated atomic.Bool
	bob := e.run(e.config(e.addMember("bob"), keep), func(c *client.Client) {
		client.SetDialGate(c, func(ctx context.Context) error {
			if gated.Load() {
				select {
				case <-gate:
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			return nil
		})
	})
	id := sendPlain(t, alice, bob.RoutingPubkey(), "read while offline")
	waitFor(t, "kept", func() bool { mu.Lock(); defer mu.Unlock(); return len(seen) == 1 })

	gated.Store(true)
	client.KillConn(bob.Client)
	waitFor(t, "offline", func() bool { return !bob.Connected() })
	actx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	if err := bob.Ack(actx, id); err == nil {
		t.Fatal("Ack with no connection reported success")
	}
	cancel()
	close(gate)
	// The resumed session gets the unacked message again; the dedup acks it
	// without handing it over a second time.
	waitFor(t, "delivered after the resume", func() bool {
		st, err := alice.MessageStatus(ctx(t), id)
		return err == nil && st.Delivered
	})
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 1 {
		t.Fatalf("handler saw %v; want the message once", seen)
	}
}

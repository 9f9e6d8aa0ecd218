package broker_test

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"math"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/claudemesh/claudemesh/internal/broker"
	"github.com/claudemesh/claudemesh/internal/config"
	"github.com/claudemesh/claudemesh/internal/meshadmin"
	"github.com/claudemesh/claudemesh/internal/protocol"
	"github.com/claudemesh/claudemesh/internal/store"
	"github.com/claudemesh/claudemesh/internal/store/storetest"
	"github.com/claudemesh/claudemesh/internal/testkit"
)

// helloRefusals are the codes a hello may be refused with (docs/errors.md).
var helloRefusals = map[string]bool{
	"malformed": true, "timestamp_skew": true, "bad_signature": true, "unauthorized": true,
	"replayed": true, "capacity": true, "bad_session_signature": true, "no_hello": true, "too_large": true,
}

// helloWorld is one broker with two meshes and members in every state the
// hello checks distinguish, plus a key that belongs to nobody.
type helloWorld struct {
	h                  *harness
	mesh2              string
	alice, bob, carol  *peer // live, live, revoked; all in h.mesh
	alice2             *peer // alice's key, member of mesh2
	mallory, sessionID testkit.Identity
	maxBytes           int

	mu   sync.Mutex
	seen map[string]bool // pubkey|signature of every accepted hello (the replay oracle)
}

func newHelloWorld(f *testing.F, b storetest.Backend) *helloWorld {
	var maxBytes int
	h := startBroker(f, b, func(c *config.Broker, o *broker.Options) {
		c.MaxConnsPerMesh = 1 << 20 // capacity has its own test; here it would only add noise
		o.PingInterval = time.Hour
		maxBytes = c.MaxMessageBytes
	})
	w := &helloWorld{h: h, mesh2: h.newMesh("second").ID, seen: map[string]bool{}, maxBytes: maxBytes}
	w.alice, w.bob, w.carol = h.addMember("alice"), h.addMember("bob"), h.addMember("carol")
	if _, err := h.st.RevokeMember(context.Background(), h.mesh.ID, w.carol.member.ID, time.Now()); err != nil {
		f.Fatal(err)
	}
	// The same person (alice's key) is also a member of the second mesh.
	m, err := meshadmin.AddMember(context.Background(), h.st, w.mesh2, w.alice.id.Hex(), "alice", store.RoleMember, time.Now())
	if err != nil {
		f.Fatal(err)
	}
	w.alice2 = &peer{h: h, meshID: w.mesh2, member: m, id: w.alice.id}
	w.mallory = identityFromSeed("mallory")
	w.sessionID = identityFromSeed("session")
	return w
}

func identityFromSeed(s string) testkit.Identity {
	seed := make([]byte, ed25519.SeedSize)
	copy(seed, s)
	priv := ed25519.NewKeyFromSeed(seed)
	return testkit.Identity{Pub: priv.Public().(ed25519.PublicKey), Priv: priv}
}

// FuzzHello sends one hello per input to a real broker over a real socket.
// The selectors pick real or fuzzed values for each field (mesh, member,
// pubkey, signer, session key), extra is a JSON object merged over the
// frame. An independent oracle (crypto/ed25519 and the member table built
// above) says which outcomes are allowed: a hello is accepted only when it
// is well-formed, fresh, signed by the key of a live member of that mesh
// and proves its session key; every other hello is refused with the code
// of the first failing check, an error frame and a 1008 close with that
// code as reason. No input may hang the broker.
func FuzzHello(f *testing.F) {
	var worlds []*helloWorld
	for _, b := range fuzzBackends(f) {
		worlds = append(worlds, newHelloWorld(f, b))
	}
	f.Fuzz(func(t *testing.T, meshSel, memberSel, keySel, signerSel, sessSel uint8,
		meshID, memberID, pubkey, signature, sessionPubkey, sessionSignature string, tsOffsetMs int64, extra []byte) {
		for _, w := range worlds {
			w.hello(t, meshSel, memberSel, keySel, signerSel, sessSel, meshID, memberID, pubkey, signature, sessionPubkey, sessionSignature, tsOffsetMs, extra)
		}
	})
}

// hello builds one hello from the fuzz input, sends it and checks the answer.
func (w *helloWorld) hello(t *testing.T, meshSel, memberSel, keySel, signerSel, sessSel uint8,
	meshID, memberID, pubkey, signature, sessionPubkey, sessionSignature string, tsOffsetMs int64, extra []byte) {
	t.Helper()
	now := time.Now()
	ts := saturatingAdd(now.UnixMilli(), tsOffsetMs)
	fr := map[string]any{"type": "hello", "sessionId": "fuzz-session", "pid": 1, "cwd": "/fuzz", "timestamp": ts,
		"protocol": 2, "capabilities": []string{"client_ack"}}
	fr["meshId"] = pick(meshSel, meshID, w.h.mesh.ID, w.mesh2)
	fr["memberId"] = pick(memberSel, memberID, w.alice.member.ID, w.bob.member.ID, w.carol.member.ID, w.alice2.member.ID)
	fr["pubkey"] = pick(keySel, pubkey, w.alice.id.Hex(), w.bob.id.Hex(), w.carol.id.Hex(), w.mallory.Hex())
	canon := protocol.HelloCanonical(fr["meshId"].(string), fr["memberId"].(string), fr["pubkey"].(string), ts)
	signers := []testkit.Identity{w.alice.id, w.bob.id, w.carol.id, w.mallory}
	if i := int(signerSel) % (len(signers) + 1); i < len(signers) {
		fr["signature"] = protocol.SignHex(signers[i].Priv, canon)
	} else {
		fr["signature"] = signature
	}
	sessCanon := protocol.SessionCanonical(fr["meshId"].(string), fr["memberId"].(string), fr["pubkey"].(string), w.sessionID.Hex(), ts)
	switch sessSel % 5 {
	case 1: // a proven session key
		fr["sessionPubkey"], fr["sessionSignature"] = w.sessionID.Hex(), protocol.SignHex(w.sessionID.Priv, sessCanon)
	case 2: // the session key with a fuzzed proof
		fr["sessionPubkey"], fr["sessionSignature"] = w.sessionID.Hex(), sessionSignature
	case 3: // both fuzzed
		fr["sessionPubkey"], fr["sessionSignature"] = sessionPubkey, sessionSignature
	case 4: // the proof signed by the member key instead of the session key
		fr["sessionPubkey"], fr["sessionSignature"] = w.sessionID.Hex(), protocol.SignHex(w.alice.id.Priv, sessCanon)
	}
	data := mergeJSON(t, fr, extra)

	allowed := w.expect(data, now)
	c := testkit.Dial(t, w.h.wsURL)
	c.SendRaw(data)
	reply := c.WaitFor(func(m map[string]any) bool { return m["type"] == "hello_ack" || m["type"] == "error" })
	got := "hello_ack"
	if reply["type"] == "error" {
		got, _ = reply["code"].(string)
	}
	if !allowed[got] {
		t.Fatalf("hello %s\ngot %v, allowed %v", data, reply, keys(allowed))
	}
	if got != "hello_ack" {
		if !helloRefusals[got] {
			t.Fatalf("refused with %q, not a documented hello code", got)
		}
		err, ok := c.WaitClosed(5 * time.Second)
		if !ok {
			t.Fatalf("refused (%s) but the socket stayed open", got)
		}
		if code, reason := testkit.CloseCode(err); code != 1008 || reason != got {
			t.Fatalf("refused (%s) but closed with %d %q", got, code, reason)
		}
		return
	}
	hf, _ := protocol.DecodeClientFrame(data)
	if reply["meshId"] != hf.MeshID || reply["memberId"] != hf.MemberID || reply["protocol"] != float64(2) {
		t.Fatalf("hello_ack %v does not match hello %s", reply, data)
	}
	w.mu.Lock()
	w.seen[hf.Pubkey+"|"+hf.Signature] = true
	w.mu.Unlock()
}

// expect is the oracle: the set of outcomes the broker may answer with.
// It checks the signatures with crypto/ed25519, not with the broker's code.
func (w *helloWorld) expect(data []byte, now time.Time) map[string]bool {
	one := func(o ...string) map[string]bool {
		m := map[string]bool{}
		for _, s := range o {
			m[s] = true
		}
		return m
	}
	if len(data) > w.maxBytes {
		return one("too_large")
	}
	f, perr := protocol.DecodeClientFrame(data)
	switch {
	case perr != nil:
		return one("malformed")
	case f.Type != "hello":
		return one("no_hello")
	case f.ValidateHello() != nil:
		return one("malformed")
	}
	// The broker reads its clock a moment after ours: near the 60 s edge
	// either answer is right.
	skew := now.Sub(time.UnixMilli(f.Timestamp)).Abs()
	if skew > 65*time.Second {
		return one("timestamp_skew")
	}
	out := w.expectSigned(f)
	if skew > 55*time.Second {
		out["timestamp_skew"] = true
	}
	return out
}

func (w *helloWorld) expectSigned(f *protocol.ClientFrame) map[string]bool {
	ours := map[string]bool{}
	for _, id := range []testkit.Identity{w.alice.id, w.bob.id, w.carol.id, w.mallory, w.sessionID} {
		ours[id.Hex()] = true
	}
	if !ed25519Verify(f.Pubkey, protocol.HelloCanonical(f.MeshID, f.MemberID, f.Pubkey, f.Timestamp), f.Signature) {
		return map[string]bool{"bad_signature": true}
	}
	live := map[string]map[string]string{ // mesh -> member -> pubkey, revoked members left out
		w.h.mesh.ID: {w.alice.member.ID: w.alice.id.Hex(), w.bob.member.ID: w.bob.id.Hex()},
		w.mesh2:     {w.alice2.member.ID: w.alice2.id.Hex()},
	}
	if live[f.MeshID][f.MemberID] != f.Pubkey {
		out := map[string]bool{"unauthorized": true}
		if !ours[f.Pubkey] { // a forgery under a weak key: the broker may refuse it earlier
			out["bad_signature"] = true
		}
		return out
	}
	if f.SessionPubkey != "" {
		canon := protocol.SessionCanonical(f.MeshID, f.MemberID, f.Pubkey, f.SessionPubkey, f.Timestamp)
		if !ed25519Verify(f.SessionPubkey, canon, f.SessionSignature) {
			return map[string]bool{"bad_session_signature": true}
		}
		if !ours[f.SessionPubkey] {
			return map[string]bool{"bad_session_signature": true, "replayed": true, "hello_ack": true}
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.seen[f.Pubkey+"|"+f.Signature] {
		return map[string]bool{"replayed": true}
	}
	return map[string]bool{"hello_ack": true}
}

func ed25519Verify(pubHex, msg, sigHex string) bool {
	pub, err1 := hex.DecodeString(pubHex)
	sig, err2 := hex.DecodeString(sigHex)
	if err1 != nil || err2 != nil || len(pub) != ed25519.PublicKeySize || len(sig) != ed25519.SignatureSize {
		return false
	}
	return ed25519.Verify(pub, []byte(msg), sig)
}

// pick returns choices[sel] or, for the one extra selector value, the fuzzed string.
func pick(sel uint8, fuzzed string, choices ...string) string {
	if i := int(sel) % (len(choices) + 1); i < len(choices) {
		return choices[i]
	}
	return fuzzed
}

// mergeJSON encodes base with the members of extra (when it is a JSON
// object) written over it, so the fuzzer can add, drop (null) or retype
// any field.
func mergeJSON(t *testing.T, base map[string]any, extra []byte) []byte {
	raw, err := json.Marshal(base)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	var over map[string]json.RawMessage
	if json.Unmarshal(extra, &over) == nil {
		for k, v := range over {
			m[k] = v
		}
	}
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func saturatingAdd(a, b int64) int64 {
	if b > 0 && a > math.MaxInt64-b {
		return math.MaxInt64
	}
	if b < 0 && a < math.MinInt64-b {
		return math.MinInt64
	}
	return a + b
}

func keys(m map[string]bool) string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return strings.Join(out, ",")
}

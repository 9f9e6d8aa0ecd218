package broker_test

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/claudemesh/claudemesh/internal/broker"
	"github.com/claudemesh/claudemesh/internal/config"
	"github.com/claudemesh/claudemesh/internal/protocol"
	"github.com/claudemesh/claudemesh/internal/store/storetest"
)

// catalogue is every code of internal/protocol/errors.go (docs/errors.md).
var catalogue = map[protocol.Code]bool{
	protocol.CodeMalformed: true, protocol.CodeTimestampSkew: true, protocol.CodeBadSignature: true,
	protocol.CodeUnauthorized: true, protocol.CodeReplayed: true, protocol.CodeCapacity: true,
	protocol.CodeBadSessionSignature: true, protocol.CodeNoHello: true, protocol.CodeAlreadyAuth: true,
	protocol.CodeUnknownType: true, protocol.CodeTooLarge: true, protocol.CodeBadPriority: true,
	protocol.CodeRateLimited: true, protocol.CodeNoSuchPeer: true, protocol.CodeAmbiguousTarget: true,
	protocol.CodeUnsupportedTarget: true, protocol.CodeUnavailable: true, protocol.CodeNotFound: true,
	protocol.CodeVersionConflict: true,
}

// answer says how the broker must answer one client frame type: the typed
// response on success, whether that response is sent without a _reqId, the
// validator that decides refusals up front, and the codes that only the
// broker's state can produce once validation passed.
type answer struct {
	success   string
	always    bool // the success frame is sent even without _reqId
	validate  func(*protocol.ClientFrame) *protocol.Error
	stateful  []protocol.Code
	echoesID  bool // the reply carries the frame's "id"
	forcedErr protocol.Code
}

var answers = map[string]answer{
	"send": {success: "ack", always: true, echoesID: true,
		validate: func(f *protocol.ClientFrame) *protocol.Error { _, e := f.ValidateSend(); return e },
		stateful: []protocol.Code{protocol.CodeNoSuchPeer, protocol.CodeAmbiguousTarget, protocol.CodeUnsupportedTarget, protocol.CodeRateLimited}},
	"client_ack":     {success: "ok"},
	"fetch_pending":  {success: "ok"},
	"list_peers":     {success: "peers_list", always: true},
	"list_members":   {success: "members_list", always: true},
	"message_status": {success: "message_status_result", always: true, stateful: []protocol.Code{protocol.CodeNotFound}},
	"set_status":     {success: "ok", validate: (*protocol.ClientFrame).ValidateStatus},
	"set_summary":    {success: "ok", validate: (*protocol.ClientFrame).ValidateSummary},
	"join_group": {success: "ok", validate: (*protocol.ClientFrame).ValidateGroup,
		stateful: []protocol.Code{protocol.CodeMalformed}}, // past 64 groups
	"leave_group":  {success: "ok", validate: (*protocol.ClientFrame).ValidateGroup},
	"set_state":    {success: "ok", validate: (*protocol.ClientFrame).ValidateSetState, stateful: []protocol.Code{protocol.CodeVersionConflict}},
	"get_state":    {success: "state_result", always: true, validate: (*protocol.ClientFrame).ValidateKey},
	"list_state":   {success: "state_list", always: true},
	"delete_state": {success: "ok", validate: (*protocol.ClientFrame).ValidateKey, stateful: []protocol.Code{protocol.CodeNotFound}},
	"remember":     {success: "memory_stored", always: true, validate: (*protocol.ClientFrame).ValidateRemember},
	"recall": {success: "memory_results", always: true,
		validate: func(f *protocol.ClientFrame) *protocol.Error { _, e := f.ValidateRecall(); return e }},
	"forget": {success: "ok", validate: (*protocol.ClientFrame).ValidateForget, stateful: []protocol.Code{protocol.CodeNotFound}},
	"ping":   {success: "pong", always: true},
	"hello":  {forcedErr: protocol.CodeAlreadyAuth},
}

// responseShapes decodes each typed broker frame into its protocol struct.
var responseShapes = map[string]func() any{
	"ok": func() any { return &protocol.OK{} }, "pong": func() any { return &protocol.OK{} },
	"ack": func() any { return &protocol.Ack{} }, "error": func() any { return &protocol.ErrorFrame{} },
	"peers_list": func() any { return &protocol.PeersList{} }, "members_list": func() any { return &protocol.MembersList{} },
	"message_status_result": func() any { return &protocol.MessageStatusResult{} },
	"state_result":          func() any { return &protocol.StateResult{} }, "state_list": func() any { return &protocol.StateList{} },
	"memory_stored": func() any { return &protocol.MemoryStored{} }, "memory_results": func() any { return &protocol.MemoryResults{} },
	"push": func() any { return &protocol.Push{} }, "state_change": func() any { return &protocol.StateChange{} },
}

// fuzzBackends are the stores the broker fuzz targets run against. While
// fuzzing: SQLite only (each fuzz worker process starts its own broker with
// its own temp database). As ordinary tests (the seeds, in `make test`):
// PostgreSQL too whenever it is configured or required, since some inputs
// fail only there. CLAUDEMESH_FUZZ_BACKEND=sqlite|postgres forces one.
func fuzzBackends(f *testing.F) []storetest.Backend {
	bs := storetest.Backends(f)
	switch os.Getenv("CLAUDEMESH_FUZZ_BACKEND") {
	case "sqlite":
		return bs[:1]
	case "postgres":
		return bs[1:]
	}
	if fz := flag.Lookup("test.fuzz"); fz != nil && fz.Value.String() != "" {
		return bs[:1]
	}
	if os.Getenv(storetest.EnvDatabaseURL) != "" || os.Getenv(storetest.EnvRequirePostgres) == "1" || os.Getenv("CI") != "" {
		return bs
	}
	return bs[:1]
}

// fuzzSession is one authenticated socket read synchronously by the fuzz
// function, so every frame it receives is attributed to one input.
type fuzzSession struct {
	ws       *websocket.Conn
	seq      int
	maxBytes int
	backend  string
}

func newFuzzSession(f *testing.F, b storetest.Backend) *fuzzSession {
	var maxBytes int
	h := startBroker(f, b, func(c *config.Broker, o *broker.Options) {
		c.SendRatePerSec = 1 << 20 // explore routing, not the rate limiter
		o.PingInterval = time.Hour // the fuzz loop reads only while it runs
		maxBytes = c.MaxMessageBytes
	})
	alice := h.addMember("alice")
	h.addMember("bob") // offline: sends to him are queued
	h.addMember("bob") // a second "bob": an ambiguous display name
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, h.wsURL, nil)
	if err != nil {
		f.Fatal(err)
	}
	ws.SetReadLimit(1 << 24)
	f.Cleanup(func() { ws.CloseNow() })
	fs := &fuzzSession{ws: ws, maxBytes: maxBytes, backend: b.Name}
	hello, _ := json.Marshal(alice.hello().Frame())
	if got := fs.exchange(f, hello, ""); len(got) != 1 || got[0].Type != "hello_ack" {
		f.Fatalf("hello: %v", got)
	}
	return fs
}

type brokerFrame struct {
	Type  string        `json:"type"`
	Code  protocol.Code `json:"code"`
	ID    *string       `json:"id"`
	ReqID *string       `json:"_reqId"`
	raw   []byte
}

// exchange writes data, then a ping, and returns every frame that arrived
// before the pong. Frames are handled in order per connection, so the pong
// proves the input was fully handled; no pong within 10 s is a hang.
func (fs *fuzzSession) exchange(t testing.TB, data []byte, until string) []brokerFrame {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := fs.ws.Write(ctx, websocket.MessageText, data); err != nil {
		t.Fatalf("write: %v", err)
	}
	if until == "" { // the hello: its answer is the only frame
		return fs.readN(ctx, t, 1)
	}
	if err := fs.ws.Write(ctx, websocket.MessageText, []byte(`{"type":"ping","_reqId":"`+until+`"}`)); err != nil {
		t.Fatalf("write ping: %v", err)
	}
	var out []brokerFrame
	for {
		got := fs.readN(ctx, t, 1)[0]
		if got.Type == "pong" && got.ReqID != nil && *got.ReqID == until {
			return out
		}
		out = append(out, got)
	}
}

func (fs *fuzzSession) readN(ctx context.Context, t testing.TB, n int) []brokerFrame {
	t.Helper()
	var out []brokerFrame
	for len(out) < n {
		typ, data, err := fs.ws.Read(ctx)
		if err != nil {
			t.Fatalf("the session ended or hung: %v", err)
		}
		var bf brokerFrame
		if typ != websocket.MessageText || json.Unmarshal(data, &bf) != nil || bf.Type == "" {
			t.Fatalf("broker sent a frame that is not a typed JSON object: %q", data)
		}
		bf.raw = data
		out = append(out, bf)
	}
	return out
}

// FuzzDispatch feeds arbitrary frames to an authenticated session of a real
// broker (SQLite store). Every input must be fully handled without closing
// the session; every broker frame must be a documented type whose JSON
// decodes into its protocol struct, every error code must be in the
// catalogue; and the answer must be the one the protocol promises for the
// frame: malformed for undecodable input, too_large over the cap, the
// validator's code when validation fails, otherwise the typed success frame
// or a state-dependent code, exactly one reply echoing _reqId (and id for
// send and unknown types).
func FuzzDispatch(f *testing.F) {
	var sessions []*fuzzSession
	for _, b := range fuzzBackends(f) {
		sessions = append(sessions, newFuzzSession(f, b))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, fs := range sessions {
			fs.dispatch(t, data)
		}
	})
}

// dispatch sends one input and checks everything that came back.
func (fs *fuzzSession) dispatch(t *testing.T, data []byte) {
	t.Helper()
	fs.seq++
	ping := fmt.Sprintf("fuzz-ping-%d-%x", fs.seq, time.Now().UnixNano())
	frames := fs.exchange(t, data, ping)
	var replies []brokerFrame
	for _, bf := range frames {
		shape, ok := responseShapes[bf.Type]
		if !ok {
			t.Fatalf("undocumented broker frame type %q: %s", bf.Type, bf.raw)
		}
		if err := json.Unmarshal(bf.raw, shape()); err != nil {
			t.Fatalf("%s frame does not fit its struct: %v\n%s", bf.Type, err, bf.raw)
		}
		if bf.Type == "error" && !catalogue[bf.Code] {
			t.Fatalf("error code %q is not in the catalogue: %s", bf.Code, bf.raw)
		}
		if bf.Code == protocol.CodeUnavailable {
			t.Fatalf("the %s store failed on this input: %s\ninput %q", fs.backend, bf.raw, data)
		}
		if bf.Type != "push" && bf.Type != "state_change" { // unsolicited frames
			replies = append(replies, bf)
		}
	}
	checkAnswer(t, fs.maxBytes, data, replies)
}

func checkAnswer(t *testing.T, maxBytes int, data []byte, replies []brokerFrame) {
	t.Helper()
	one := func(want string) brokerFrame {
		t.Helper()
		if len(replies) != 1 {
			t.Fatalf("input %q: want exactly one reply (%s), got %d: %s", data, want, len(replies), raws(replies))
		}
		return replies[0]
	}
	if len(data) > maxBytes {
		if r := one("too_large"); r.Code != protocol.CodeTooLarge {
			t.Fatalf("oversized input answered %s", r.raw)
		}
		return
	}
	fr, perr := protocol.DecodeClientFrame(data)
	if perr != nil {
		r := one("malformed")
		if r.Type != "error" || r.Code != protocol.CodeMalformed {
			t.Fatalf("undecodable input %q answered %s", data, r.raw)
		}
		return
	}
	ans, known := answers[fr.Type]
	if !known {
		ans = answer{forcedErr: protocol.CodeUnknownType, echoesID: true}
	}
	var want protocol.Code = ans.forcedErr
	if ans.validate != nil {
		if e := ans.validate(fr); e != nil {
			want = e.Code
		}
	}
	if want == "" && !ans.always && len(replies) == 0 && fr.ReqID == "" {
		return // fire-and-forget success: nothing to answer
	}
	r := one(ans.success)
	if r.ReqID == nil && fr.ReqID != "" || r.ReqID != nil && *r.ReqID != fr.ReqID {
		t.Fatalf("input %q: reply does not echo _reqId %q: %s", data, fr.ReqID, r.raw)
	}
	if ans.echoesID && (r.ID == nil && fr.ID != "" || r.ID != nil && *r.ID != fr.ID) {
		t.Fatalf("input %q: reply does not echo id %q: %s", data, fr.ID, r.raw)
	}
	switch {
	case want != "":
		if r.Type != "error" || r.Code != want {
			t.Fatalf("input %q: want error %s, got %s", data, want, r.raw)
		}
	case r.Type == "error":
		if !hasCode(ans.stateful, r.Code) {
			t.Fatalf("input %q passed validation but was refused: %s", data, r.raw)
		}
	case r.Type != ans.success:
		t.Fatalf("input %q: want %s, got %s", data, ans.success, r.raw)
	}
}

func hasCode(codes []protocol.Code, c protocol.Code) bool {
	for _, have := range codes {
		if have == c {
			return true
		}
	}
	return false
}

func raws(fs []brokerFrame) string {
	var out string
	for _, f := range fs {
		out += string(f.raw) + "\n"
	}
	return out
}

package protocol

import (
	"encoding/json"
	"strings"
	"testing"
)

const (
	hexKey = "bc7cbcb5636375fa1d82434d466724d92377f53b980695dd49d26d0ce12205a5"
	hexSig = "048bb3c4915556f61acd582b09a6ca1ff8fca58cc3781958dda95653c19a2d7ee8d015568945c9ad173244bafd75a9e2cb0fc9883e60c018f7e6827784ecb50e"
)

func TestDecodeClientFrame(t *testing.T) {
	for _, tc := range []struct {
		in   string
		code Code // "" = valid
	}{
		{`{"type":"list_peers","_reqId":"r1"}`, ""},
		{`{"type":"send","unknownField":1}`, ""}, // unknown fields are ignored for newer clients
		{`not json`, CodeMalformed},
		{`["type"]`, CodeMalformed},
		{`{"type":7}`, CodeMalformed},
		{`{"_reqId":"r1"}`, CodeMalformed},
		{`{"type":"hello","timestamp":"soon"}`, CodeMalformed},
	} {
		f, err := DecodeClientFrame([]byte(tc.in))
		switch {
		case tc.code == "" && err != nil:
			t.Errorf("%s: unexpected %v", tc.in, err)
		case tc.code != "" && (err == nil || err.Code != tc.code):
			t.Errorf("%s: got %v, want %s", tc.in, err, tc.code)
		case tc.code == "" && f.Type == "":
			t.Errorf("%s: type lost", tc.in)
		}
	}
}

func validHello() ClientFrame {
	return ClientFrame{Type: TypeHello, MeshID: "mesh_1", MemberID: "mem_1", Pubkey: hexKey,
		Timestamp: 1767225600000, Signature: hexSig, SessionID: "s1"}
}

func TestValidateHello(t *testing.T) {
	for _, tc := range []struct {
		name string
		mod  func(*ClientFrame)
		ok   bool
	}{
		{"valid", func(*ClientFrame) {}, true},
		{"session key", func(f *ClientFrame) { f.SessionPubkey = hexKey }, true},
		{"no meshId", func(f *ClientFrame) { f.MeshID = "" }, false},
		{"long memberId", func(f *ClientFrame) { f.MemberID = strings.Repeat("m", 129) }, false},
		{"uppercase pubkey", func(f *ClientFrame) { f.Pubkey = strings.ToUpper(hexKey) }, false},
		{"short pubkey", func(f *ClientFrame) { f.Pubkey = hexKey[:62] }, false},
		{"zero timestamp", func(f *ClientFrame) { f.Timestamp = 0 }, false},
		{"bad signature hex", func(f *ClientFrame) { f.Signature = "zz" + hexSig[2:] }, false},
		{"no sessionId", func(f *ClientFrame) { f.SessionID = "" }, false},
		{"bad session pubkey", func(f *ClientFrame) { f.SessionPubkey = "abc" }, false},
		{"bad peerType", func(f *ClientFrame) { f.PeerType = "robot" }, false},
		{"bad group", func(f *ClientFrame) { f.Groups = []Group{{Name: "Backend"}} }, false},
		{"good group", func(f *ClientFrame) { f.Groups = []Group{{Name: "team/backend-1", Role: "lead"}} }, true},
		{"huge cwd", func(f *ClientFrame) { f.CWD = strings.Repeat("/", MaxPathLen+1) }, false},
	} {
		f := validHello()
		tc.mod(&f)
		err := f.ValidateHello()
		if tc.ok != (err == nil) {
			t.Errorf("%s: err = %v", tc.name, err)
		}
		if err != nil && err.Code != CodeMalformed {
			t.Errorf("%s: code %s, want malformed", tc.name, err.Code)
		}
	}
}

func TestValidateSend(t *testing.T) {
	for _, tc := range []struct {
		name    string
		frame   string
		code    Code
		targets []string
		array   bool
	}{
		{"string target", `{"id":"1","targetSpec":"bob","priority":"now","ciphertext":"x"}`, "", []string{"bob"}, false},
		{"array target", `{"id":"1","targetSpec":["bob","@ops"],"priority":"low","ciphertext":"x"}`, "", []string{"bob", "@ops"}, true},
		{"default priority", `{"id":"1","targetSpec":"*","ciphertext":"x"}`, "", []string{"*"}, false},
		{"bad priority", `{"id":"1","targetSpec":"bob","priority":"urgent","ciphertext":"x"}`, CodeBadPriority, nil, false},
		{"no id", `{"targetSpec":"bob","ciphertext":"x"}`, CodeMalformed, nil, false},
		{"no target", `{"id":"1","ciphertext":"x"}`, CodeMalformed, nil, false},
		{"empty target", `{"id":"1","targetSpec":" ","ciphertext":"x"}`, CodeMalformed, nil, false},
		{"number target", `{"id":"1","targetSpec":5,"ciphertext":"x"}`, CodeMalformed, nil, false},
		{"empty array", `{"id":"1","targetSpec":[],"ciphertext":"x"}`, CodeMalformed, nil, false},
		{"bad enc", `{"id":"1","targetSpec":"bob","enc":"rot13","ciphertext":"x"}`, CodeMalformed, nil, false},
		{"no ciphertext", `{"id":"1","targetSpec":"bob"}`, CodeMalformed, nil, false},
	} {
		var f ClientFrame
		if err := json.Unmarshal([]byte(tc.frame), &f); err != nil {
			t.Fatal(err)
		}
		s, err := f.ValidateSend()
		if tc.code != "" {
			if err == nil || err.Code != tc.code {
				t.Errorf("%s: got %v, want %s", tc.name, err, tc.code)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if strings.Join(s.Targets, ",") != strings.Join(tc.targets, ",") || s.TargetIsArray != tc.array || s.Priority == "" {
			t.Errorf("%s: got %+v", tc.name, s)
		}
	}
}

func TestValidGroupName(t *testing.T) {
	for name, ok := range map[string]bool{
		"backend": true, "a": true, "0ps/team_1-x": true, strings.Repeat("a", 64): true,
		"": false, "-x": false, "Backend": false, "a b": false, strings.Repeat("a", 65): false,
	} {
		if ValidGroupName(name) != ok {
			t.Errorf("ValidGroupName(%q) != %v", name, ok)
		}
	}
}

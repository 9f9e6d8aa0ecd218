package protocol_test

import (
	"strings"
	"testing"

	"github.com/claudemesh/claudemesh/internal/protocol"
)

// The per-message frames of the hot path: a send decoded and validated, its
// ack and its push encoded.
//
//	go test -run '^$' -bench . -benchmem ./internal/protocol/

var benchSend = []byte(`{"type":"send","id":"42","targetSpec":"` + strings.Repeat("ab", 32) +
	`","priority":"now","nonce":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA","ciphertext":"Y2lwaGVydGV4dCBvZiBhIHR5cGljYWwgc2hvcnQgbWVzc2FnZQ==","enc":"box","clientMessageId":"c-42"}`)

func BenchmarkDecodeSend(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(benchSend)))
	for b.Loop() {
		f, perr := protocol.DecodeClientFrame(benchSend)
		if perr != nil {
			b.Fatal(perr)
		}
		if _, perr := f.ValidateSend(); perr != nil {
			b.Fatal(perr)
		}
	}
}

func BenchmarkEncodeAck(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		protocol.Encode(protocol.Ack{Type: protocol.TypeAck, ID: "42", MessageID: "msg_01JABCDEFGHJKMNPQRSTVWXYZ0",
			Queued: true, Recipients: 1})
	}
}

func BenchmarkEncodePush(b *testing.B) {
	p := protocol.Push{Type: protocol.TypePush, MessageID: "msg_01JABCDEFGHJKMNPQRSTVWXYZ0", MeshID: "mesh_01JABCDEFGH",
		SenderPubkey: strings.Repeat("cd", 32), SenderMemberPubkey: strings.Repeat("ef", 32), SenderName: "alice",
		Priority: "now", Nonce: "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		Ciphertext: "Y2lwaGVydGV4dCBvZiBhIHR5cGljYWwgc2hvcnQgbWVzc2FnZQ==", Enc: "box", Kind: "direct",
		CreatedAt: "2026-11-27T04:00:00.000Z"}
	b.ReportAllocs()
	for b.Loop() {
		protocol.Encode(p)
	}
}

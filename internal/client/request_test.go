package client_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/claudemesh/claudemesh/internal/client"
	"github.com/claudemesh/claudemesh/internal/protocol"
)

// RequestInto keeps raw JSON fields as the broker sent them (a state value's
// key order), checks the reply type, and turns error frames into BrokerError.
func TestRequestIntoDecodesTypedRepliesVerbatim(t *testing.T) {
	e := newEnv(t)
	c := e.dial(e.config(e.addMember("alice"), nil))
	value := json.RawMessage(`{"zeta":1,"alpha":[true,null]}`)
	var ok protocol.OK
	if err := c.RequestInto(ctx(t), map[string]any{"type": protocol.TypeSetState, "key": "k", "value": value}, protocol.TypeOK, &ok); err != nil || ok.Version == nil || *ok.Version != 1 {
		t.Fatalf("set_state = %+v, %v", ok, err)
	}
	var got protocol.StateResult
	if err := c.RequestInto(ctx(t), map[string]any{"type": protocol.TypeGetState, "key": "k"}, protocol.TypeStateResult, &got); err != nil || string(got.Value) != string(value) {
		t.Fatalf("get_state value = %s, %v; want %s byte for byte", got.Value, err, value)
	}
	if err := c.RequestInto(ctx(t), map[string]any{"type": protocol.TypeGetState, "key": "k"}, protocol.TypeStateList, &got); err == nil {
		t.Fatal("a reply of another type must be an error")
	}
	var be *client.BrokerError
	err := c.RequestInto(ctx(t), map[string]any{"type": protocol.TypeDeleteState, "key": "missing"}, protocol.TypeOK, &ok)
	if !errors.As(err, &be) || be.Code != protocol.CodeNotFound || be.Op != protocol.TypeDeleteState {
		t.Fatalf("delete of a missing key = %v, want a not_found BrokerError", err)
	}
}
